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
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


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
    ts = int(time.time()) if ts is None else ts
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sign(secret, ts, body)}


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
