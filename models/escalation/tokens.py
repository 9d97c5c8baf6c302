"""Signed, expiring action links: ``GET /api/v1/actions/{token}`` acknowledges (or
resolves, snoozes) a group from an email without logging in.

A token is ``base64url(JSON claims) "." base64url(HMAC-SHA256(key, claims))``; the
claims name the action, tenant, group key, who it was sent to and when it expires.
Anyone holding the link can use it until then, so links are short-lived and say
only what they do. Verification is constant-time and checks expiry after the MAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

ACTIONS = ("ack", "resolve", "snooze")


class TokenError(ValueError):
    pass


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, claims: dict[str, Any]) -> str:
    if not key:
        raise TokenError("no signing key configured")
    if claims.get("op") not in ACTIONS:
        raise TokenError(f"op: one of {', '.join(ACTIONS)}")
    body = orjson.dumps(claims, option=orjson.OPT_SORT_KEYS)
    return _b64(body) + "." + _b64(hmac.new(key, body, hashlib.sha256).digest())


def link_claims(op: str, tenant: str, group_key: str, user: str, expires: float) -> dict[str, Any]:
    return {"op": op, "tenant": tenant, "group_key": group_key, "user": user, "exp": expires}


def verify(key: bytes, token: str, now: float) -> dict[str, Any]:
    """The token's claims; ``TokenError`` if forged, malformed or expired."""
    if not key:
        raise TokenError("action links are not configured")
    try:
        body_part, mac_part = token.split(".", 1)
        body, mac = _unb64(body_part), _unb64(mac_part)
    except (ValueError, TypeError):
        raise TokenError("malformed token") from None
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        raise TokenError("bad signature")
    claims = orjson.loads(body)
    if not isinstance(claims, dict) or claims.get("op") not in ACTIONS:
        raise TokenError("malformed token")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or now >= exp:
        raise TokenError("link expired")
    return claims
