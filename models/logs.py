"""Structured logs: one JSON object per line, for ELK, Loki and the like to ingest
without parsing rules (``--log-format json``, ``ALERTSTREAM_LOG_FORMAT=json``).

Each event has ``ts``, ``level``, ``logger`` and ``message``, and, where known, the
``tenant``, ``fingerprint``, ``group_key``, ``notification`` and ``trace_id`` it concerns:
from the call's ``extra={...}``, else from ``log_context`` (a context variable, so a
batch's tenant follows every log call made while the batch is handled), and the trace
id of the current span when tracing is on::

    with log_context(tenant="acme"):
        log.warning("notification %s failed", nid, extra={"group_key": key})
    # {"ts":"2026-11-30T07:30:00.123Z","level":"warning","logger":"agents.notify",
    #  "message":"notification 1f.. failed","tenant":"acme","group_key":"{}:{...}"}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson

from models.tracing import trace_id_now

FIELDS = ("tenant", "fingerprint", "group_key", "notification", "trace_id", "span_id")

_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("alertstream_log_context", default=None)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (None ones are left out) to every event logged inside the block."""
    known = {k: v for k, v in fields.items() if v is not None}
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **known})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON (UTC times with milliseconds)."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        event: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            + f".{int((record.created - seconds) * 1000):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        event.update(_CONTEXT.get() or {})
        fields = record.__dict__
        for name in FIELDS:
            if fields.get(name) is not None:
                event[name] = fields[name]
        if "trace_id" not in event and (trace_id := trace_id_now()) is not None:
            event["trace_id"] = trace_id  # logged inside a span (tracing on)
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(event, default=str).decode()


def json_logging_config() -> dict[str, Any]:
    """The ``logging.config.dictConfig`` overlay Faust's worker merges into its own
    (``faust.App(logging_config=...)``): its handlers, our formatter."""
    json = {"()": f"{__name__}.JsonFormatter"}
    return {"version": 1, "merge": True, "formatters": {"default": json, "colored": json}}
