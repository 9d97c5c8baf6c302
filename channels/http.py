"""HTTP requests for channels: render one as JSON-able data, send it, classify the answer.

A rendered request is ``{"kind": "http", "method", "url", "headers", "body",
"options"}`` with ``body`` the exact text sent, so a signature over it stays valid
when a dead letter is replayed.  The default classification is Alertmanager's:
2xx delivered, 429 and 5xx (and 408) retry, any other 4xx give up.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from channels.config_fields import DEFAULT_TIMEOUT
from channels.outbound import refusal
from channels.outcome import Outcome
from channels.redaction import redact_text
from channels.tls import tls_context
from models.tracing import http_headers_now


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


async def send_http(
    session: aiohttp.ClientSession | None, rendered: dict[str, Any], classify=classify_http
) -> Outcome:
    """Perform a rendered request once; network errors are a retry with a redacted detail."""
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
            headers={**(rendered.get("headers") or {}), **http_headers_now()},
            ssl=tls_context(options) or True,
            proxy=options.get("proxy_url") or None,
            allow_redirects=options.get("follow_redirects", True),
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            text = await resp.text(errors="replace")
            return classify(resp.status, resp.headers, text, time.monotonic() - start)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        if reason := refusal(exc):  # the destination's address is not allowed: no retry
            return Outcome.give_up(None, redact_text(reason), latency=time.monotonic() - start)
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return Outcome.retry(None, redact_text(detail), latency=time.monotonic() - start)
