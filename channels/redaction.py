"""What logs, receipts and shown configs may contain of a request or a receiver config.

One masking rule for the whole product: values under secret keys become
``<secret>`` (Alertmanager's own marker when it prints a config), URLs keep only
scheme and host (paths and queries carry tokens: Slack and Teams webhooks), and
request bodies are masked field by field.  ``redact`` takes a rendered request or a
receiver's ``*_configs`` entry alike.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

SECRET = "<secret>"
SECRET_KEYS = frozenset(
    {
        "access_key",
        "api_key",
        "auth_password",
        "auth_token",
        "authorization",
        "bearer_token",
        "bot_token",
        "cookie",
        "credentials",
        "password",
        "proxy-authorization",
        "routing_key",
        "secret",
        "secret_key",
        "service_key",
        "session_token",
        "token",
        "x-alertstream-signature",
    }
)
URL_KEYS = frozenset({"url", "api_url", "webhook_url", "endpoint_url"})
_URL_IN_TEXT = re.compile(r"https?://[^\s'\"<>]+")


def redact_url(url: str) -> str:
    """Scheme and host only (no user info); any path or query becomes ``/<secret>``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return SECRET
    if not parts.netloc:
        return url if not parts.path else SECRET
    host = parts.hostname or ""
    if port:
        host = f"{host}:{port}"
    path = "/" + SECRET if parts.path not in ("", "/") or parts.query else parts.path
    return urlunsplit((parts.scheme, host, path, "", ""))


def redact(obj: Any) -> Any:
    """A copy safe to log or show: secrets masked, URLs cut to their host."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            key = str(k).lower()
            if key in SECRET_KEYS and v:
                out[k] = SECRET
            elif key in URL_KEYS and isinstance(v, str):
                out[k] = redact_url(v)
            elif key == "body" and isinstance(v, str):
                out[k] = _redact_body(v)
            else:
                out[k] = redact(v)
        return out
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def redact_text(text: str) -> str:
    """Free text (an exception message) with every URL in it cut to its host."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


def _redact_body(text: str) -> str:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        pairs = parse_qsl(text, keep_blank_values=True)
        if not pairs:
            return text
        return urlencode([(k, SECRET if k.lower() in SECRET_KEYS else v) for k, v in pairs])
    return orjson.dumps(redact(doc)).decode()
