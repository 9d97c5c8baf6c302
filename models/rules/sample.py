"""Metric samples (topic `metrics`): decoded in C, validated item by item only when needed.

A record of well-formed samples is decoded by msgspec straight into ``Sample`` structs
(~0.2 µs a sample).  If anything in it is not strictly well-formed (a bad item, a label
value that needs coercing to a string, invalid JSON), the record takes the per-item path
instead, which accepts and rejects exactly what it always did and names every reason.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import msgspec

from models.alerting.alert import DEFAULT_TENANT
from models.wire import WireError, decode_batch, string_map


class Sample(msgspec.Struct, kw_only=True, gc=False):
    """One sample.  ``tenant`` and ``ts`` are only empty/NaN between decoding and
    ``decode_samples`` filling them from the record's key and the arrival time."""

    tenant: str = ""
    name: Annotated[str, msgspec.Meta(min_length=1)]
    labels: dict[str, str] = {}
    value: float
    ts: float = math.nan

    @classmethod
    def from_wire(cls, obj: Any, tenant: str | None, now: float) -> Sample:
        """Validate one sample; raises WireError with the reason (NaN/inf included)."""
        if not isinstance(obj, dict):
            raise WireError("sample: expected a JSON object")
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            raise WireError("name: required, a non-empty string")
        value = obj.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise WireError(f"value: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise WireError(f"value: {value!r} is not finite")
        ts = obj.get("ts", now)
        if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
            raise WireError("ts: expected epoch seconds")
        labels = obj.get("labels")
        return cls(
            tenant=str(obj.get("tenant") or tenant or DEFAULT_TENANT),
            name=name,
            labels=string_map(labels, "labels") if labels else {},
            value=float(value),
            ts=float(ts),
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "name": self.name,
            "labels": self.labels,
            "value": self.value,
            "ts": self.ts,
        }


_DECODER = msgspec.json.Decoder(list[Sample] | Sample)


def decode_samples(
    raw: bytes | None, tenant: str | None, now: float
) -> tuple[list[Sample], list[tuple[Any, str]]]:
    """The samples of one Kafka record and (item, reason) for each bad one.

    Raises WireError when the record as a whole is not a JSON object or array."""
    try:
        doc = _DECODER.decode(raw) if raw else None
    except msgspec.DecodeError:
        doc = None
    if doc is None:  # something needs a reason or a coercion: item by item
        return parse_many(Sample, decode_batch(raw), tenant, now)
    samples = doc if type(doc) is list else [doc]
    default = tenant or DEFAULT_TENANT
    for s in samples:
        if not s.tenant:
            s.tenant = default
        if s.ts != s.ts:  # NaN: no timestamp sent (JSON cannot carry a NaN)
            s.ts = now
    return samples, []


def parse_many(
    cls: Any, items: list[Any], tenant: str | None, now: float
) -> tuple[list[Any], list[tuple[Any, str]]]:
    """Validate a batch; returns the good records and (item, reason) for each bad one."""
    good: list[Any] = []
    bad: list[tuple[Any, str]] = []
    for item in items:
        try:
            good.append(cls.from_wire(item, tenant, now))
        except WireError as exc:
            bad.append((item, str(exc)))
    return good, bad
