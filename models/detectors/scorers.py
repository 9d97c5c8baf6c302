"""Raw scorers: cheap, scale-free "how surprising is x" numbers (≥ 0, roughly a z-score).

Why several: spikes, level shifts, changes of noise and breaks of the daily pattern are
each seen best by a different residual. Every scorer has `raw(x, ts)` (from the past
only) and `learn(x, ts)`. Zero spread is guarded by a floor relative to the series'
scale, so a constant series scores 0 and a first deviation scores high but finite.
"""

from __future__ import annotations

import math

from .base import State
from .stats import EwStats

TINY = 1e-12


class Scorer(State):
    __slots__ = ()

    def raw(self, x: float, ts: float) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def learn(self, x: float, ts: float) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class Residual(Scorer):
    """Error of a fast EWMA forecast over a slow EWMA of absolute errors (spikes, shifts)."""

    __slots__ = ("a_err", "a_lvl", "err", "level", "n", "rel_floor", "scale")

    def __init__(self, a_lvl: float = 0.3, a_err: float = 0.01, rel_floor: float = 1e-3) -> None:
        self.a_lvl = a_lvl
        self.a_err = a_err
        self.rel_floor = rel_floor
        self.level = 0.0
        self.err = 0.0
        self.scale = 0.0  # EW mean of |x|, the series' magnitude for the floor
        self.n = 0

    def raw(self, x: float, ts: float) -> float:
        if self.n < 2:
            return 0.0
        d = self.err
        floor = self.rel_floor * self.scale + TINY
        return abs(x - self.level) / (d if d > floor else floor)

    def learn(self, x: float, ts: float) -> None:
        self.n += 1
        if self.n == 1:
            self.level = x
            self.scale = abs(x)
            return
        a = max(self.a_err, 1.0 / self.n)
        self.err += a * (abs(x - self.level) - self.err)
        self.scale += a * (abs(x) - self.scale)
        self.level += self.a_lvl * (x - self.level)


class Gauss(Scorer):
    """Distance to a long exponentially weighted mean in standard deviations (windowed Gaussian)."""

    __slots__ = ("rel_floor", "st")

    def __init__(self, alpha: float = 1 / 1000, rel_floor: float = 1e-3) -> None:
        self.st = EwStats(alpha)
        self.rel_floor = rel_floor

    def raw(self, x: float, ts: float) -> float:
        st = self.st
        if st.n < 2:
            return 0.0
        floor = self.rel_floor * abs(st.mean) + TINY
        sd = st.std
        return abs(x - st.mean) / (sd if sd > floor else floor)

    def learn(self, x: float, ts: float) -> None:
        self.st.update(x)


class Diff(Scorer):
    """Size of the step from the previous value over the usual step size (abrupt changes)."""

    __slots__ = ("alpha", "n", "prev", "rel_floor", "scale", "step")

    def __init__(self, alpha: float = 0.01, rel_floor: float = 1e-3) -> None:
        self.alpha = alpha
        self.rel_floor = rel_floor
        self.prev = 0.0
        self.step = 0.0
        self.scale = 0.0
        self.n = 0

    def raw(self, x: float, ts: float) -> float:
        if self.n < 2:
            return 0.0
        floor = self.rel_floor * self.scale + TINY
        s = self.step
        return abs(x - self.prev) / (s if s > floor else floor)

    def learn(self, x: float, ts: float) -> None:
        self.n += 1
        if self.n > 1:
            a = max(self.alpha, 1.0 / self.n)
            self.step += a * (abs(x - self.prev) - self.step)
            self.scale += a * (abs(x) - self.scale)
        else:
            self.scale = abs(x)
        self.prev = x


class Seasonal(Scorer):
    """Deviation from the usual value at this time of day (daily profile in `buckets` slots).

    A slot needs `min_n` samples before it scores; the spread is the slot's EW mean
    absolute deviation, floored by a share of the global step size so quiet slots do not
    explode.
    """

    __slots__ = ("alpha", "buckets", "dev", "glob", "mean", "min_n", "n", "period", "rel_floor")

    def __init__(
        self,
        buckets: int = 48,
        period: float = 86400.0,
        alpha: float = 0.2,
        min_n: int = 3,
        rel_floor: float = 1e-3,
    ) -> None:
        self.buckets = buckets
        self.period = period
        self.alpha = alpha
        self.min_n = min_n
        self.rel_floor = rel_floor
        self.mean = [0.0] * buckets
        self.dev = [0.0] * buckets
        self.n = [0] * buckets
        self.glob = EwStats(0.01)

    def _slot(self, ts: float) -> int:
        return int((ts % self.period) * self.buckets / self.period) % self.buckets

    def trained(self, ts: float) -> bool:
        return self.n[self._slot(ts)] >= self.min_n

    def raw(self, x: float, ts: float) -> float:
        k = self._slot(ts)
        if self.n[k] < self.min_n:
            return 0.0
        floor = self.rel_floor * abs(self.glob.mean) + 0.25 * self.glob.std + TINY
        d = self.dev[k]
        return abs(x - self.mean[k]) / (d if d > floor else floor)

    def learn(self, x: float, ts: float) -> None:
        k = self._slot(ts)
        n = self.n[k] = self.n[k] + 1
        a = max(self.alpha, 1.0 / n)
        if n == 1:
            self.mean[k] = x
        else:
            self.dev[k] += a * (abs(x - self.mean[k]) - self.dev[k])
            self.mean[k] += a * (x - self.mean[k])
        self.glob.update(x)


class Weekly(Seasonal):
    """Seasonal profile over the week (hour-of-week slots): weekday vs weekend behaviour."""

    __slots__ = ()

    def __init__(self, buckets: int = 84, alpha: float = 0.2, min_n: int = 3, **kw: float):
        super().__init__(buckets=buckets, period=7 * 86400.0, alpha=alpha, min_n=min_n, **kw)


SCORERS: dict[str, type[Scorer]] = {
    "weekly": Weekly,
    "residual": Residual,
    "gauss": Gauss,
    "diff": Diff,
    "seasonal": Seasonal,
}


def squash(z: float, c: float) -> float:
    """Map a z-like number to [0, 1): z / (z + c); NaN → 0."""
    if not z > 0.0:
        return 0.0
    if math.isinf(z):
        return 1.0
    return z / (z + c)
