"""Events (topic `events`): things that happened, judged by event rules.

An event has a ``type`` (``login_failed``, ``heartbeat``), ``labels`` that say who or
what it concerns (strings, matched by Alertmanager label matchers) and ``fields`` that
carry its payload (any JSON values, matched by field conditions)::

    >>> Event.from_wire({"type": "login_failed", "labels": {"user": "bob"},
    ...                  "fields": {"ip": "10.0.0.7"}, "ts": 1.0}, "acme", now=2.0).tenant
    'acme'

Records are decoded item by item: a bad event is returned with its reason (for `dlq`)
and the rest of the record goes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from models.alerting.alert import DEFAULT_TENANT
from models.wire import WireError, decode_batch, string_map


@dataclass(slots=True, kw_only=True)
class Event:
    tenant: str
    type: str
    ts: float
    labels: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, obj: Any, tenant: str | None, now: float) -> Event:
        """Validate one event; raises WireError with the reason."""
        if not isinstance(obj, dict):
            raise WireError("event: expected a JSON object")
        kind = obj.get("type")
        if not isinstance(kind, str) or not kind:
            raise WireError("type: required, a non-empty string")
        ts = obj.get("ts", now)
        if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
            raise WireError("ts: expected epoch seconds")
        fields = obj.get("fields")
        if fields is not None and not isinstance(fields, dict):
            raise WireError("fields: expected an object")
        return cls(
            tenant=str(obj.get("tenant") or tenant or DEFAULT_TENANT),
            type=kind,
            ts=float(ts),
            labels=string_map(obj.get("labels"), "labels"),
            fields=fields or {},
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "type": self.type,
            "labels": self.labels,
            "fields": self.fields,
            "ts": self.ts,
        }


def decode_events(
    raw: bytes | str | None, tenant: str | None, now: float
) -> tuple[list[Event], list[tuple[Any, str]]]:
    """One record: the valid events, and each invalid item with its reason.  Raises
    WireError when the record itself is not a JSON object or array."""
    events: list[Event] = []
    bad: list[tuple[Any, str]] = []
    for item in decode_batch(raw):
        try:
            events.append(Event.from_wire(item, tenant, now))
        except WireError as exc:
            bad.append((item, str(exc)))
    return events, bad
