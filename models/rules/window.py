"""One tumbling window's running aggregate: O(1) per sample, percentiles from kept values."""

from __future__ import annotations

import math

AGGREGATES = ("avg", "min", "max", "sum", "count", "last", "rate", "p50", "p90", "p95", "p99")
_PERCENTILE = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
MAX_KEPT = 10_000  # values kept for percentiles; beyond it, a uniform reservoir would do


class WindowAggregate:
    """Running aggregate of the samples of one series in one window."""

    __slots__ = ("count", "first_ts", "increase", "last", "last_ts", "max", "min", "sum", "values")

    def __init__(self, keep_values: bool) -> None:
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.last = 0.0
        self.last_ts = -math.inf
        self.first_ts = math.inf
        self.increase = 0.0  # counter increase with resets handled, for rate
        self.values: list[float] | None = [] if keep_values else None

    def add(self, value: float, ts: float) -> None:
        if self.count and ts >= self.last_ts:
            self.increase += value - self.last if value >= self.last else value
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if ts >= self.last_ts:
            self.last = value
            self.last_ts = ts
        if ts < self.first_ts:
            self.first_ts = ts
        if self.values is not None and len(self.values) < MAX_KEPT:
            self.values.append(value)

    def result(self, how: str, window: float) -> float:
        if how == "avg":
            return self.sum / self.count
        if how == "min":
            return self.min
        if how == "max":
            return self.max
        if how == "sum":
            return self.sum
        if how == "count":
            return float(self.count)
        if how == "last":
            return self.last
        if how == "rate":
            span = self.last_ts - self.first_ts
            return self.increase / (span if span > 0 else window)
        return percentile(self.values or [], _PERCENTILE[how])


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile (NumPy's default method)."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def needs_values(how: str) -> bool:
    return how in _PERCENTILE
