"""Metric samples (topic `metrics`): decoded in C, validated item by item only when needed.

A record of well-formed samples is decoded by msgspec with each sample's labels left as
raw JSON; a series' labels are parsed and sorted once and then found by those bytes, so
a sample costs a struct and a dict lookup.  If anything in a record is not strictly
well-formed (a bad item, a label value that needs coercing to a string, invalid JSON),
the record takes the per-item path instead, which accepts and rejects exactly what it
always did and names every reason.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import msgspec

from models.alerting.alert import DEFAULT_TENANT
from models.wire import WireError, decode_batch, string_map

LabelKey = tuple[tuple[str, str], ...]
"""A series' labels sorted by name: its identity, hashable."""


class Sample(msgspec.Struct, kw_only=True, gc=False):
    """One sample.  ``key`` is ``labels`` sorted, computed when not given.  Decoded samples
    of one series share their ``labels`` and ``key`` objects: treat both as read-only."""

    tenant: str
    name: str
    labels: dict[str, str]
    value: float
    ts: float
    key: LabelKey = ()

    def __post_init__(self) -> None:
        if not self.key and self.labels:
            self.key = tuple(sorted(self.labels.items()))

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


class _WireSample(msgspec.Struct, gc=False):
    """What a well-formed sample looks like on the wire (JSON cannot carry NaN or inf)."""

    name: Annotated[str, msgspec.Meta(min_length=1)]
    value: float
    labels: msgspec.Raw = msgspec.Raw(b"{}")
    ts: float = math.nan  # none sent: the arrival time
    tenant: str = ""  # none sent: the record's key


class SampleDecoder:
    """Decodes `metrics` records, remembering the labels of up to ``max_series`` series
    by their raw JSON (then it forgets them all and starts again)."""

    def __init__(self, max_series: int = 1 << 17) -> None:
        self.max_series = max_series
        self._records = msgspec.json.Decoder(list[_WireSample] | _WireSample)
        self._labels = msgspec.json.Decoder(dict[str, str])
        self._series: dict[bytes, tuple[dict[str, str], LabelKey]] = {}

    def decode(
        self, raw: bytes | None, tenant: str | None, now: float
    ) -> tuple[list[Sample], list[tuple[Any, str]]]:
        """The samples of one record and (item, reason) for each bad one.

        Raises WireError when the record as a whole is not a JSON object or array."""
        try:
            doc = self._records.decode(raw) if raw else None
        except msgspec.DecodeError:
            doc = None
        samples = None
        if doc is not None:
            samples = self._samples(doc if type(doc) is list else [doc], tenant, now)
        if samples is None:  # something needs a reason or a coercion: item by item
            return parse_many(Sample, decode_batch(raw), tenant, now)
        return samples, []

    def _samples(
        self, wires: list[_WireSample], tenant: str | None, now: float
    ) -> list[Sample] | None:
        default = tenant or DEFAULT_TENANT
        series = self._series
        out = []
        for w in wires:
            raw_labels = bytes(w.labels)
            known = series.get(raw_labels) or self._learn(raw_labels)
            if known is None:
                return None
            out.append(
                Sample(
                    tenant=w.tenant or default,
                    name=w.name,
                    labels=known[0],
                    value=w.value,
                    ts=now if w.ts != w.ts else w.ts,
                    key=known[1],
                )
            )
        return out

    def _learn(self, raw_labels: bytes) -> tuple[dict[str, str], LabelKey] | None:
        """Parse a series' labels the first time they are seen; None unless all strings."""
        try:
            labels = self._labels.decode(raw_labels)
        except msgspec.DecodeError:
            return None
        if len(self._series) >= self.max_series:
            self._series.clear()
        known = self._series[raw_labels] = (labels, tuple(sorted(labels.items())))
        return known


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
