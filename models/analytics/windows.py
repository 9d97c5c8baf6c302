"""Tumbling windows of alert-path statistics, one per (window, tenant, dimension, value).

A window is an hour or a day (UTC); its ``Stats`` hold counters, escalation reasons and
two duration sketches, and merge exactly, so a range is answered by merging the day
windows it covers and the hour windows at its edges.

Keys, ordered so that one window start is one prefix scan and retention deletes whole
prefixes (tenants are quoted, so a ``/`` in one cannot shift the fields)::

    w/<h|d>/<start, 10 digits>/<tenant>/<dimension>/<value>
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

from models.analytics.sketch import Sketch

HOUR, DAY = 3600, 86400
RESOLUTIONS = {"h": HOUR, "d": DAY}
DIMENSIONS = ("tenant", "rule", "severity", "team", "receiver", "route", "policy")
COUNTERS = (
    "fired",
    "resolved",
    "acknowledged",
    "acted",
    "escalated",
    "flaps",
    "sent",
    "failed",
    "interruptions_in_hours",
    "interruptions_out_of_hours",
)


class Stats:
    """One window's numbers for one dimension value."""

    __slots__ = ("counts", "reasons", "tta", "ttr")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.reasons: dict[str, int] = {}  # escalation reasons
        self.tta = Sketch()  # time to acknowledge (s)
        self.ttr = Sketch()  # time to resolve (s)

    def add(self, counter: str, n: int = 1) -> None:
        self.counts[counter] = self.counts.get(counter, 0) + n

    def merge(self, other: Stats) -> None:
        for k, v in other.counts.items():
            self.add(k, v)
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v
        self.tta.merge(other.tta)
        self.ttr.merge(other.ttr)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"c": self.counts}
        if self.reasons:
            out["r"] = self.reasons
        if self.tta.count:
            out["a"] = self.tta.to_wire()
        if self.ttr.count:
            out["s"] = self.ttr.to_wire()
        return out

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Stats:
        s = cls()
        s.counts = dict(d.get("c") or {})
        s.reasons = dict(d.get("r") or {})
        if "a" in d:
            s.tta = Sketch.from_wire(d["a"])
        if "s" in d:
            s.ttr = Sketch.from_wire(d["s"])
        return s

    def report(self) -> dict[str, Any]:
        """Counters, the rates an operator reads, and the duration percentiles."""
        c = {k: self.counts.get(k, 0) for k in COUNTERS}
        fired = c["fired"]
        return {
            **c,
            "flapping_rate": c["flaps"] / fired if fired else None,
            "actionability": min(1.0, c["acted"] / fired) if fired else None,
            "acknowledged_rate": min(1.0, c["acknowledged"] / fired) if fired else None,
            "failure_rate": c["failed"] / (c["sent"] + c["failed"])
            if c["sent"] + c["failed"]
            else None,
            "escalation_reasons": dict(sorted(self.reasons.items())),
            "time_to_acknowledge": self.tta.summary(),
            "time_to_resolve": self.ttr.summary(),
        }


def window_start(resolution: str, at: float) -> int:
    size = RESOLUTIONS[resolution]
    return int(at // size) * size


def window_key(resolution: str, start: int, tenant: str, dim: str, value: str) -> str:
    return f"w/{resolution}/{start:010d}/{quote(tenant, safe='')}/{dim}/{value}"


def window_prefix(resolution: str, start: int, tenant: str | None, dim: str | None) -> str:
    """The prefix of one window's keys: all tenants, or one tenant's, or one dimension's."""
    out = f"w/{resolution}/{start:010d}/"
    if tenant is None:
        return out
    out += quote(tenant, safe="") + "/"
    return out if dim is None else f"{out}{dim}/"


def parse_window_key(key: str) -> tuple[str, int, str, str, str]:
    """(resolution, start, tenant, dimension, value) of a window key."""
    _, res, start, tenant, dim, value = key.split("/", 5)
    return res, int(start), unquote(tenant), dim, value


def cover(frm: float, to: float) -> Iterator[tuple[str, int]]:
    """The windows that cover [frm, to): whole days as day windows, the hours at either
    ends as hour windows (a range is widened to whole hours at both ends)."""
    t = window_start("h", frm)
    while t < to:
        if t % DAY == 0 and t + DAY <= to:
            yield "d", t
            t += DAY
        else:
            yield "h", t
            t += HOUR
