"""One tumbling window's running aggregate: O(1) per sample, percentiles from kept values.

One small class per aggregate, each keeping only what its result needs, since ``add``
runs once per sample and matching rule (the metrics path's innermost call)::

    agg = new_aggregate("avg")()
    agg.add(3.0, ts=1000.0); agg.add(5.0, ts=1001.0)
    agg.result(window=10.0)  # 4.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Protocol

MAX_KEPT = 10_000  # values kept for percentiles; beyond it, a uniform reservoir would do


class Aggregate(Protocol):
    def add(self, value: float, ts: float) -> None: ...

    def result(self, window: float) -> float: ...


class Avg:
    __slots__ = ("count", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0

    def add(self, value: float, ts: float) -> None:
        self.count += 1
        self.sum += value

    def result(self, window: float) -> float:
        return self.sum / self.count


class Sum:
    __slots__ = ("sum",)

    def __init__(self) -> None:
        self.sum = 0.0

    def add(self, value: float, ts: float) -> None:
        self.sum += value

    def result(self, window: float) -> float:
        return self.sum


class Count:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def add(self, value: float, ts: float) -> None:
        self.count += 1

    def result(self, window: float) -> float:
        return float(self.count)


class Min:
    __slots__ = ("min",)

    def __init__(self) -> None:
        self.min = math.inf

    def add(self, value: float, ts: float) -> None:
        if value < self.min:
            self.min = value

    def result(self, window: float) -> float:
        return self.min


class Max:
    __slots__ = ("max",)

    def __init__(self) -> None:
        self.max = -math.inf

    def add(self, value: float, ts: float) -> None:
        if value > self.max:
            self.max = value

    def result(self, window: float) -> float:
        return self.max


class Last:
    """The value with the newest timestamp (the later one on a tie)."""

    __slots__ = ("last", "last_ts")

    def __init__(self) -> None:
        self.last = 0.0
        self.last_ts = -math.inf

    def add(self, value: float, ts: float) -> None:
        if ts >= self.last_ts:
            self.last = value
            self.last_ts = ts

    def result(self, window: float) -> float:
        return self.last


class Rate(Last):
    """Per-second increase of a counter over the samples' span (the window if one
    sample), counter resets handled as Prometheus' ``rate`` does."""

    __slots__ = ("first_ts", "increase", "seen")

    def __init__(self) -> None:
        super().__init__()
        self.seen = False
        self.first_ts = math.inf
        self.increase = 0.0

    def add(self, value: float, ts: float) -> None:
        if self.seen and ts >= self.last_ts:
            self.increase += value - self.last if value >= self.last else value
        self.seen = True
        if ts < self.first_ts:
            self.first_ts = ts
        super().add(value, ts)

    def result(self, window: float) -> float:
        span = self.last_ts - self.first_ts
        return self.increase / (span if span > 0 else window)


class Quantile:
    __slots__ = ("q", "values")

    def __init__(self, q: float) -> None:
        self.q = q
        self.values: list[float] = []

    def add(self, value: float, ts: float) -> None:
        if len(self.values) < MAX_KEPT:
            self.values.append(value)

    def result(self, window: float) -> float:
        return percentile(self.values, self.q)


_AGGREGATES: dict[str, Callable[[], Aggregate]] = {
    "avg": Avg,
    "min": Min,
    "max": Max,
    "sum": Sum,
    "count": Count,
    "last": Last,
    "rate": Rate,
    "p50": partial(Quantile, 0.50),
    "p90": partial(Quantile, 0.90),
    "p95": partial(Quantile, 0.95),
    "p99": partial(Quantile, 0.99),
}
AGGREGATES = tuple(_AGGREGATES)


def new_aggregate(how: str) -> Callable[[], Aggregate]:
    """The constructor of an empty aggregate of kind ``how`` (one of AGGREGATES)."""
    return _AGGREGATES[how]


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile (NumPy's default method)."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
