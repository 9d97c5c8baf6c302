"""Durations (time to acknowledge, time to resolve) as mergeable DDSketches.

A DDSketch answers any quantile within a *relative* error ``ACCURACY`` of the exact
value (1%: a p90 of 600 s is reported between 594 and 606 s), and two sketches merge
exactly, so an hour's sketches add up to a day's and workers' answers add up to a
tenant's. We keep one per window and dimension, so the wire form must be small: the
non-empty bins as ``[first key, counts...]`` runs, plus count, sum, min and max.

    >>> s = Sketch()
    >>> for v in (1.0, 2.0, 30.0): s.add(v)
    >>> round(Sketch.from_wire(s.to_wire()).quantile(0.5), 1)
    2.0
"""

from __future__ import annotations

from typing import Any

from ddsketch import DDSketch

ACCURACY = 0.01  # the sketches' relative accuracy: |estimate - exact| <= 1% of exact


class Sketch:
    """A DDSketch of non-negative durations in seconds."""

    __slots__ = ("dd",)

    def __init__(self) -> None:
        self.dd = DDSketch(ACCURACY)

    @property
    def count(self) -> int:
        return int(self.dd.count)

    def add(self, seconds: float) -> None:
        self.dd.add(max(0.0, seconds))

    def merge(self, other: Sketch) -> None:
        if other.count:
            self.dd.merge(other.dd)

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0..1), None when empty."""
        return self.dd.get_quantile_value(q) if self.count else None

    def summary(self) -> dict[str, Any]:
        """count, mean, p50/p90/p99, min, max (seconds; None when empty)."""
        n = self.count
        dd = self.dd
        return {
            "count": n,
            "mean": dd.sum / n if n else None,
            "p50": self.quantile(0.5),
            "p90": self.quantile(0.9),
            "p99": self.quantile(0.99),
            "min": dd._min if n else None,
            "max": dd._max if n else None,
        }

    def to_wire(self) -> list[Any]:
        """``[count, sum, min, max, zeros, runs]``; runs: ``[[key, c, c, ...], ...]``."""
        dd = self.dd
        runs: list[list[int]] = []
        store = dd._store
        prev = None
        for i, c in enumerate(store.bins):
            if not c:
                prev = None
                continue
            if prev is None:
                runs.append([i + store.offset])
            runs[-1].append(int(c))
            prev = i
        return [self.count, dd.sum, dd._min, dd._max, int(dd._zero_count), runs]

    @classmethod
    def from_wire(cls, data: list[Any]) -> Sketch:
        s = cls()
        count, total, lo, hi, zeros, runs = data
        dd = s.dd
        for run in runs:
            for i, c in enumerate(run[1:]):
                dd._store.add(run[0] + i, c)
        dd._zero_count = float(zeros)
        dd._count = float(count)
        dd._sum = float(total)
        if count:
            dd._min, dd._max = float(lo), float(hi)
        return s
