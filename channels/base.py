"""The channel interface: render a notification into one request, send that request.

Like Alertmanager's ``notify.Notifier`` a channel knows its protocol and nothing
else: retries, rate limits and circuit breaking live in ``channels.delivery``.

* ``render(notification) -> dict`` is pure.  The dict is the complete request
  (JSON-serialisable): it is what goes to the dead-letter queue and what
  ``dlq replay`` re-sends, so ``send`` must need nothing else.
* ``send(rendered) -> Outcome`` performs it once and classifies the answer in
  one place per channel: delivered, retry (maybe with ``retry_after``) or give up.

HTTP channels render ``{"kind": "http", "method", "url", "headers", "body",
"options"}`` with ``body`` the exact text sent (so a signature over it stays
valid on replay).  Dead letters therefore hold credentials (Authorization
headers, routing keys, SMTP passwords): the ``dlq`` topic needs the same access
control as the configuration.  Receipts and logs only ever see ``redact()``-ed
requests and short error details.
"""

from __future__ import annotations

import base64
import email.utils
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from channels.templating import check_template
from models.notify.notification import Notification

DELIVERED = "delivered"
RETRY = "retry"
GIVE_UP = "give_up"

DEFAULT_TIMEOUT = 10.0
DETAIL_MAX = 300


@dataclass(slots=True)
class Outcome:
    """The result of one send attempt."""

    kind: str  # delivered | retry | give_up
    status: int | None = None  # HTTP status or SMTP reply code, when there is one
    detail: str = ""
    latency: float = 0.0
    retry_after: float | None = None  # seconds the peer asked us to wait
    throttled: bool = False  # the peer is alive but rate limiting: not a breaker failure
    # state to remember for later notifications of the same group (e.g. Slack's
    # {"channel", "ts"} of the posted message, used by chat.update on resolve)
    state: dict[str, Any] | None = None

    @classmethod
    def delivered(cls, status: int | None = None, detail: str = "", **kw: Any) -> Outcome:
        return cls(DELIVERED, status, _short(detail), **kw)

    @classmethod
    def retry(cls, status: int | None = None, detail: str = "", **kw: Any) -> Outcome:
        return cls(RETRY, status, _short(detail), **kw)

    @classmethod
    def give_up(cls, status: int | None = None, detail: str = "", **kw: Any) -> Outcome:
        return cls(GIVE_UP, status, _short(detail), **kw)

    @property
    def ok(self) -> bool:
        return self.kind == DELIVERED


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"


# ---------------------------------------------------------------------------
# Config pieces shared by channels (Prometheus common/config names)
# ---------------------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )


class BasicAuth(Strict):
    username: str = ""
    password: SecretStr = SecretStr("")


class Authorization(Strict):
    type: str = "Bearer"
    credentials: SecretStr = SecretStr("")


class TLSConfig(Strict):
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False
    min_version: str = ""


class HTTPConfig(Strict):
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    bearer_token: SecretStr | None = None  # deprecated Prometheus spelling
    tls_config: TLSConfig = TLSConfig()
    proxy_url: str = ""
    follow_redirects: bool = True
    enable_http2: bool = True  # accepted for compatibility; aiohttp speaks HTTP/1.1

    @model_validator(mode="after")
    def _one_auth(self) -> HTTPConfig:
        given = [self.basic_auth, self.authorization, self.bearer_token]
        if sum(x is not None for x in given) > 1:
            raise ValueError("at most one of basic_auth, authorization, bearer_token")
        return self

    def auth_headers(self) -> dict[str, str]:
        if self.basic_auth is not None:
            raw = f"{self.basic_auth.username}:{self.basic_auth.password.get_secret_value()}"
            return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}
        if self.authorization is not None and self.authorization.credentials.get_secret_value():
            cred = self.authorization.credentials.get_secret_value()
            return {"Authorization": f"{self.authorization.type or 'Bearer'} {cred}"}
        if self.bearer_token is not None:
            return {"Authorization": f"Bearer {self.bearer_token.get_secret_value()}"}
        return {}

    def options(self, timeout: float) -> dict[str, Any]:
        return {
            "timeout": timeout,
            "insecure_skip_verify": self.tls_config.insecure_skip_verify,
            "ca_file": self.tls_config.ca_file,
            "proxy_url": self.proxy_url,
            "follow_redirects": self.follow_redirects,
        }


class ChannelConfig(Strict):
    """Fields every integration has.  Subclasses set the ``send_resolved`` default
    to Alertmanager's for that integration."""

    send_resolved: bool = True


def template_field(*names: str, html: bool = False):
    """A field validator that makes a template syntax error a config error."""

    def check(cls, value):
        if isinstance(value, str) and value:
            check_template(value, html=html)
        elif isinstance(value, dict):
            for v in value.values():
                if isinstance(v, str) and v:
                    check_template(v, html=html)
        return value

    return field_validator(*names)(classmethod(check))


def url_field(*names: str):
    def check(cls, value):
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text:
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("expected an http(s) URL")
        return value

    return field_validator(*names)(classmethod(check))


SEVERITY_ORDER = ["critical", "error", "high", "warning", "medium", "low", "info"]


def severity_of(notification: Notification) -> str:
    sev = notification.common("labels").get("severity", "")
    if sev:
        return sev.lower()
    found = {a["labels"].get("severity", "").lower() for a in notification.firing()}
    for s in SEVERITY_ORDER:
        if s in found:
            return s
    return ""


# ---------------------------------------------------------------------------
# The channel base class
# ---------------------------------------------------------------------------


class Channel:
    kind: ClassVar[str]
    config_key: ClassVar[str]
    Config: ClassVar[type[ChannelConfig]]

    def __init__(
        self, config: ChannelConfig | None, session: aiohttp.ClientSession | None = None
    ) -> None:
        # ``config`` may be None when only replaying a stored request (send needs none).
        self.config = config
        self.session = session

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind}>"

    def render(self, notification: Notification) -> dict[str, Any]:
        raise NotImplementedError

    async def send(self, rendered: dict[str, Any]) -> Outcome:
        return await send_http(self.session, rendered, self.classify)

    # -- HTTP classification: 2xx delivered, 429/5xx retry, other 4xx give up -----
    def classify(self, status: int, headers: Any, text: str, latency: float) -> Outcome:
        return classify_http(status, headers, text, latency)

    @staticmethod
    def destination(rendered: dict[str, Any]) -> str:
        """What a circuit breaker guards: the URL's host:port for HTTP channels."""
        parts = urlsplit(rendered.get("url", ""))
        return f"{parts.scheme}://{parts.netloc}"


CHANNELS: dict[str, type[Channel]] = {}


def register(cls: type[Channel]) -> type[Channel]:
    if cls.kind in CHANNELS and CHANNELS[cls.kind] is not cls:
        raise ValueError(f"channel kind {cls.kind!r} registered twice")
    CHANNELS[cls.kind] = cls
    return cls


# ---------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------


def http_request(
    url: str,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    form: bool = False,
    options: dict[str, Any] | None = None,
    method: str = "POST",
) -> dict[str, Any]:
    """A rendered HTTP request; ``body`` (JSON object or form dict) becomes exact text."""
    if form:
        from urllib.parse import urlencode

        text = urlencode(body)
        ctype = "application/x-www-form-urlencoded"
    else:
        text = orjson.dumps(body).decode()
        ctype = "application/json"
    hdrs = {"Content-Type": ctype, "User-Agent": "alertstream"}
    hdrs.update(headers or {})
    return {
        "kind": "http",
        "method": method,
        "url": url,
        "headers": hdrs,
        "body": text,
        "options": options or {"timeout": DEFAULT_TIMEOUT},
    }


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def classify_http(status: int, headers: Any, text: str, latency: float) -> Outcome:
    if 200 <= status < 300:
        return Outcome.delivered(status, text, latency=latency)
    retry_after = parse_retry_after(headers.get("Retry-After")) if headers else None
    detail = f"HTTP {status}: {text}"
    if status == 429:
        return Outcome.retry(
            status, detail, latency=latency, retry_after=retry_after, throttled=True
        )
    if status >= 500 or status == 408:
        return Outcome.retry(status, detail, latency=latency, retry_after=retry_after)
    return Outcome.give_up(status, detail, latency=latency)


_ssl_contexts: dict[str, Any] = {}


def _ssl_option(options: dict[str, Any]) -> Any:
    if options.get("insecure_skip_verify"):
        return False
    ca = options.get("ca_file")
    if ca:
        import ssl

        if ca not in _ssl_contexts:
            _ssl_contexts[ca] = ssl.create_default_context(cafile=ca)
        return _ssl_contexts[ca]
    return True


async def send_http(
    session: aiohttp.ClientSession | None, rendered: dict[str, Any], classify=classify_http
) -> Outcome:
    if session is None:
        raise RuntimeError("HTTP channels need an aiohttp.ClientSession")
    options = rendered.get("options") or {}
    timeout = float(options.get("timeout") or DEFAULT_TIMEOUT)
    start = time.monotonic()
    try:
        async with session.request(
            rendered.get("method", "POST"),
            rendered["url"],
            data=rendered.get("body", "").encode(),
            headers=rendered.get("headers") or {},
            ssl=_ssl_option(options),
            proxy=options.get("proxy_url") or None,
            allow_redirects=options.get("follow_redirects", True),
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            text = await resp.text(errors="replace")
            return classify(resp.status, resp.headers, text, time.monotonic() - start)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return Outcome.retry(None, redact_text(detail), latency=time.monotonic() - start)


# ---------------------------------------------------------------------------
# Redaction: what receipts and logs may show of a rendered request
# ---------------------------------------------------------------------------

SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "password",
        "auth_password",
        "auth_token",
        "token",
        "routing_key",
        "service_key",
        "secret_key",
        "access_key",
        "session_token",
        "x-alertstream-signature",
    }
)
URL_KEYS = frozenset({"url", "api_url", "webhook_url", "endpoint_url"})
REDACTED = "<redacted>"


def redact_url(url: str) -> str:
    """Keep scheme and host; paths and queries may carry tokens (Slack, Teams)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    if not parts.netloc:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    path = "/" + REDACTED if parts.path not in ("", "/") or parts.query else parts.path
    return urlunsplit((parts.scheme, host, path, "", ""))


def redact(obj: Any) -> Any:
    """A copy of a rendered request safe for logs and receipts."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            key = str(k).lower()
            if key in SECRET_KEYS and v:
                out[k] = REDACTED
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


def _redact_body(text: str) -> str:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        from urllib.parse import parse_qsl, urlencode

        pairs = parse_qsl(text, keep_blank_values=True)
        if not pairs:
            return text
        return urlencode([(k, REDACTED if k.lower() in SECRET_KEYS else v) for k, v in pairs])
    return orjson.dumps(redact(doc)).decode()


def redact_text(text: str) -> str:
    """Scrub URLs out of free text such as exception messages."""
    import re

    return re.sub(r"https?://[^\s'\"<>]+", lambda m: redact_url(m.group(0)), text)


def json_body(rendered: dict[str, Any]) -> Any:
    return orjson.loads(rendered["body"])
