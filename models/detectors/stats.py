"""Cheap online statistics shared by the detectors (pure Python, O(1) per point).

Why not River's `stats`: these must serialise through our explicit state format and cost a
few hundred nanoseconds each; the formulas are the textbook exponentially weighted ones,
with a warm-up that starts as a plain running mean so early estimates are not biased to 0.
"""

from __future__ import annotations

import math
from collections import deque

from .base import State

SQRT2 = math.sqrt(2.0)
LOG_EPS = -math.log(1e-10)  # 23.02585...: HTM's log-likelihood scale


class EwStats(State):
    """EW mean and variance; a plain running mean for the first 1/alpha points (no bias to 0)."""

    __slots__ = ("alpha", "mean", "n", "var")

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.mean = 0.0
        self.var = 0.0
        self.n = 0

    def update(self, x: float) -> None:
        self.n += 1
        a = 1.0 / self.n
        if a < self.alpha:
            a = self.alpha
        d = x - self.mean
        inc = a * d
        self.mean += inc
        self.var = (1.0 - a) * (self.var + d * inc)

    @property
    def std(self) -> float:
        return math.sqrt(self.var) if self.var > 0.0 else 0.0


def tail_score(z: float) -> float:
    """Log-scaled upper-tail probability of a standard normal: 0 for z ≤ 0, 1 near z ~ 6.4.

    Same scale as HTM's anomaly log-likelihood: log(P(Z ≥ z) + 1e-10) / log(1e-10).
    """
    if z <= 0.0:
        return 0.0
    p = 0.5 * math.erfc(z / SQRT2)
    s = -math.log(p + 1e-10) / LOG_EPS
    return 1.0 if s > 1.0 else s


class Likelihood(State):
    """HTM-style anomaly likelihood over a stream of raw scores.

    Why: raw scores (prediction errors, z-scores) have a per-series baseline; what matters
    is whether the recent average of raw scores is improbable given their own long-run
    distribution. The short-window mean includes the current raw score; the long-run mean
    and variance are exponentially weighted and updated after scoring.
    """

    __slots__ = ("buf", "learning", "long", "short", "total", "var_floor")

    def __init__(
        self, short: int = 10, alpha: float = 1 / 2000, learning: int = 300, var_floor: float = 1e-4
    ) -> None:
        self.short = short
        self.buf: deque[float] = deque(maxlen=short)
        self.total = 0.0
        self.long = EwStats(alpha)
        self.learning = learning
        self.var_floor = var_floor

    def score(self, raw: float) -> float:
        buf = self.buf
        if self.long.n < self.learning:
            return 0.0
        if len(buf) == self.short:
            m = (self.total - buf[0] + raw) / self.short
        else:
            m = (self.total + raw) / (len(buf) + 1)
        var = self.long.var
        if var < self.var_floor:
            var = self.var_floor
        return tail_score((m - self.long.mean) / math.sqrt(var))

    def learn(self, raw: float) -> None:
        buf = self.buf
        if len(buf) == self.short:
            self.total -= buf[0]
        buf.append(raw)
        self.total += raw
        self.long.update(self.total / len(buf))
