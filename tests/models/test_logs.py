"""Structured logs: one JSON object per event with the fields ELK/Loki index on."""

from __future__ import annotations

import logging
import sys

import orjson

from models.logs import JsonFormatter, log_context


def record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    r = logging.LogRecord("agents.notify", logging.WARNING, __file__, 1, msg, args, exc_info)
    r.created = 1796023800.1234  # 2026-11-30T07:30:00.123Z
    r.__dict__.update(extra)
    return r


def test_an_event_is_one_line_of_json_with_level_logger_message_and_known_fields():
    line = JsonFormatter().format(record("sent %s to %s", "n1", "ops", tenant="acme", junk=1))
    assert "\n" not in line
    assert orjson.loads(line) == {
        "ts": "2026-11-30T07:30:00.123Z",
        "level": "warning",
        "logger": "agents.notify",
        "message": "sent n1 to ops",
        "tenant": "acme",
    }


def test_the_context_adds_fields_to_every_event_inside_it_and_extra_wins():
    fmt = JsonFormatter()
    with log_context(tenant="acme", trace_id="ab" * 16, fingerprint=None):
        with log_context(group_key="{}:{x}"):
            inner = orjson.loads(fmt.format(record("a", fingerprint="f1", tenant="other")))
        outer = orjson.loads(fmt.format(record("b")))
    after = orjson.loads(fmt.format(record("c")))
    assert (inner["tenant"], inner["group_key"], inner["fingerprint"]) == ("other", "{}:{x}", "f1")
    assert inner["trace_id"] == "ab" * 16
    assert "group_key" not in outer and outer["tenant"] == "acme" and "fingerprint" not in outer
    assert set(after) == {"ts", "level", "logger", "message"}


def test_an_exception_travels_in_the_event():
    event = orjson.loads(JsonFormatter().format(record("failed", exc=True)))
    assert event["message"] == "failed"
    assert event["exception"].startswith("Traceback") and "ValueError: boom" in event["exception"]
