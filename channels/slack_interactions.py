"""Slack interactivity: verify a request's signature and parse a button click.

Pure functions, no I/O: the HTTP endpoint (someone else's) calls
``parse_interaction(signing_secret, headers, raw_body)`` and answers 401 on
``SlackSignatureError`` and 400 on ``SlackPayloadError``.

Slack signs ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with HMAC-SHA256 keyed by
the app's signing secret and sends ``X-Slack-Signature: v0=<hex>``; requests older
than five minutes are rejected to stop replays.

The command dict::

    {"action": "ack" | "resolve" | "silence", "tenant": str,
     "group_key": str | None, "fingerprint": str | None,
     "user": str, "user_id": str, "duration": float | None,   # seconds, silence only
     "channel": str | None, "message_ts": str | None, "response_url": str | None}
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from models.durations import parse_duration

MAX_AGE = 300.0
ACTIONS = ("ack", "resolve", "silence")


class SlackRequestError(ValueError):
    """A Slack interaction request that must be refused."""


class SlackSignatureError(SlackRequestError):
    """Missing, forged or stale signature (answer 401)."""


class SlackPayloadError(SlackRequestError):
    """Signed correctly but not a block_actions click we understand (answer 400)."""


def sign(signing_secret: str, timestamp: str | int, body: bytes | str) -> str:
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + str(timestamp).encode() + b":" + raw
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def verify_signature(
    signing_secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes | str,
    *,
    now: float | None = None,
    max_age: float = MAX_AGE,
) -> None:
    """Raise SlackSignatureError unless ``signature`` is Slack's for this body and fresh."""
    if not signing_secret:
        raise SlackSignatureError("no signing secret configured")
    if not timestamp or not signature:
        raise SlackSignatureError("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SlackSignatureError("X-Slack-Request-Timestamp is not an integer") from None
    now = time.time() if now is None else now
    if abs(now - ts) > max_age:
        raise SlackSignatureError(f"stale request: timestamp is {int(now - ts)} s off")
    expected = sign(signing_secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SlackSignatureError("signature mismatch")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    for k, v in headers.items():
        if k.lower() == lower:
            return v
    return None


def parse_interaction(
    signing_secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify, then parse one block_actions request into a command dict."""
    verify_signature(
        signing_secret,
        _header(headers, "X-Slack-Request-Timestamp"),
        _header(headers, "X-Slack-Signature"),
        body,
        now=now,
    )
    return parse_block_actions(body)


def parse_block_actions(body: bytes | str) -> dict[str, Any]:
    """The command of the first alertstream button in a block_actions ``payload`` form field.

    Call only after ``verify_signature``."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    fields = parse_qs(text, keep_blank_values=True)
    if "payload" not in fields:
        raise SlackPayloadError("no payload form field")
    try:
        payload = orjson.loads(fields["payload"][0])
    except orjson.JSONDecodeError:
        raise SlackPayloadError("payload is not JSON") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        kind = payload.get("type") if isinstance(payload, dict) else type(payload).__name__
        raise SlackPayloadError(f"unsupported interaction type {kind!r}")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        raise SlackPayloadError("block_actions without actions")
    for action in actions:
        if not isinstance(action, dict) or not str(action.get("action_id", "")).startswith(
            "alertstream_"
        ):
            continue
        if "value" not in action:
            continue  # link buttons (runbook, source) carry no command
        return _command(action["value"], payload)
    raise SlackPayloadError("no alertstream action in request")


def _command(raw_value: Any, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        value = orjson.loads(raw_value)
    except (orjson.JSONDecodeError, TypeError):
        raise SlackPayloadError("button value is not JSON") from None
    if not isinstance(value, dict):
        raise SlackPayloadError("button value is not an object")
    action = value.get("action")
    if action not in ACTIONS:
        raise SlackPayloadError(f"unknown action {action!r}")
    tenant = value.get("tenant")
    if not isinstance(tenant, str) or not tenant:
        raise SlackPayloadError("button value has no tenant")
    group_key, fingerprint = value.get("group_key"), value.get("fingerprint")
    if not group_key and not fingerprint:
        raise SlackPayloadError("button value has neither group_key nor fingerprint")
    duration = None
    if action == "silence":
        try:
            duration = parse_duration(value.get("duration", 3600))
        except ValueError as exc:
            raise SlackPayloadError(f"silence duration: {exc}") from None
        if duration <= 0:
            raise SlackPayloadError("silence duration must be positive")
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    channel = payload.get("channel") if isinstance(payload.get("channel"), dict) else {}
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    return {
        "action": action,
        "tenant": tenant,
        "group_key": group_key or None,
        "fingerprint": fingerprint or None,
        "user": str(user.get("username") or user.get("name") or user.get("id") or ""),
        "user_id": str(user.get("id") or ""),
        "duration": duration,
        "channel": channel.get("id") or container.get("channel_id"),
        "message_ts": container.get("message_ts"),
        "response_url": payload.get("response_url"),
    }
