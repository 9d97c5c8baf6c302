import hashlib
import hmac
import time
from urllib.parse import urlencode

import orjson
import pytest
from conftest import make_notification

from channels.slack import SlackChannel, SlackConfig
from channels.slack_interactions import (
    SlackPayloadError,
    SlackSignatureError,
    parse_interaction,
    sign,
    verify_signature,
)

# Slack's worked example ("Verifying requests from Slack", api.slack.com): this signing
# secret, timestamp and slash-command body are signed
# v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503.
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = 1531420618
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    "%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_slacks_documented_example_signs_and_verifies():
    assert sign(SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    # accepted within five minutes of its timestamp, refused after
    verify_signature(SECRET, str(DOC_TIMESTAMP), DOC_SIGNATURE, DOC_BODY, now=DOC_TIMESTAMP + 299)
    with pytest.raises(SlackSignatureError, match="stale"):
        verify_signature(
            SECRET, str(DOC_TIMESTAMP), DOC_SIGNATURE, DOC_BODY, now=DOC_TIMESTAMP + 301
        )
    with pytest.raises(SlackSignatureError, match="mismatch"):
        verify_signature(
            SECRET, str(DOC_TIMESTAMP), DOC_SIGNATURE, DOC_BODY + "x", now=DOC_TIMESTAMP
        )


def click_body(button_index: int = 0) -> bytes:
    """A block_actions request for one of the buttons our Slack message carries."""
    body = SlackChannel(SlackConfig(api_url="https://hooks.slack.com/services/x")).message(
        make_notification("slack")
    )
    button = body["attachments"][0]["blocks"][-1]["elements"][button_index]
    payload = {
        "type": "block_actions",
        "user": {"id": "U123", "username": "alice", "name": "alice", "team_id": "T1"},
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C1"},
        "channel": {"id": "C1", "name": "ops"},
        "response_url": "https://hooks.slack.com/actions/T1/1/abc",
        "actions": [
            {
                "type": "button",
                "action_id": button["action_id"],
                "block_id": "alertstream_actions",
                "value": button["value"],
                "action_ts": "1700000001.0",
            }
        ],
    }
    return urlencode({"payload": orjson.dumps(payload).decode()}).encode()


def headers(body: bytes, ts: int | None = None, secret: str = SECRET) -> dict[str, str]:
    """Headers as Slack sends them, signed here by the documented scheme (not by ``sign``)."""
    ts = int(time.time()) if ts is None else ts
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": "v0=" + digest}


@pytest.mark.parametrize(
    ("index", "action", "duration"),
    [(0, "ack", None), (1, "resolve", None), (2, "silence", 3600.0)],
)
def test_signed_clicks_parse_into_commands(index, action, duration):
    body = click_body(index)
    cmd = parse_interaction(SECRET, headers(body), body)
    assert cmd["action"] == action and cmd["duration"] == duration
    assert cmd["tenant"] == "acme"
    assert cmd["group_key"] == make_notification().group_key and cmd["fingerprint"] is None
    assert cmd["user"] == "alice" and cmd["user_id"] == "U123"
    assert cmd["channel"] == "C1" and cmd["message_ts"] == "1700000000.000100"


def test_forged_signature_is_refused():
    body = click_body()
    with pytest.raises(SlackSignatureError, match="mismatch"):
        parse_interaction(SECRET, headers(body, secret="not-the-secret"), body)
    tampered = body.replace(b"ack", b"resolve")
    with pytest.raises(SlackSignatureError):
        parse_interaction(SECRET, headers(body) | {}, tampered)


def test_stale_or_missing_signature_is_refused():
    body = click_body()
    with pytest.raises(SlackSignatureError, match="stale"):
        parse_interaction(SECRET, headers(body, ts=int(time.time()) - 301), body)
    with pytest.raises(SlackSignatureError, match="missing"):
        parse_interaction(SECRET, {}, body)


def test_malformed_payloads_are_refused():
    for body in (
        b"nothing=here",
        urlencode({"payload": "{not json"}).encode(),
        urlencode({"payload": orjson.dumps({"type": "view_submission"}).decode()}).encode(),
        urlencode(
            {
                "payload": orjson.dumps(
                    {
                        "type": "block_actions",
                        "actions": [
                            {"action_id": "alertstream_ack", "value": '{"action": "reboot"}'}
                        ],
                    }
                ).decode()
            }
        ).encode(),
    ):
        with pytest.raises(SlackPayloadError):
            parse_interaction(SECRET, headers(body), body)
