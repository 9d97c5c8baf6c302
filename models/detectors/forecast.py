"""Forecaster for failure prediction: "at this rate, the disk is full in 3 h 20 min".

Why an exponentially weighted least-squares line (not Holt): Holt's trend is a smoothed
difference of noisy levels and swings with the noise; a weighted regression over the last
~`tau` seconds uses every point, is O(1) (five running sums, re-centred on the newest
timestamp), handles irregular sampling and gaps (weights decay with time, not points), and
a spike cannot swing the slope because residuals beyond `clip` x the mean absolute error
are cut. Optional additive hour-of-day seasonality keeps a daily cycle from reading as a trend.
"""

from __future__ import annotations

import math

import orjson

from .base import State, finite


class Forecaster(State):
    """Robust EW linear trend over time, optional hour-of-day seasonality."""

    __slots__ = ("base", "clip", "err", "gamma", "n", "s", "season", "season_n", "t0", "tau")

    def __init__(
        self, tau: float = 6 * 3600.0, clip: float = 4.0, seasonal: bool = False, gamma: float = 0.1
    ) -> None:
        self.tau = tau  # memory of the regression, in seconds
        self.clip = clip
        self.gamma = gamma
        self.s = [0.0, 0.0, 0.0, 0.0, 0.0]  # sum w, w t, w t^2, w y, w t y (t relative to t0)
        self.t0 = 0.0
        self.err = 0.0
        self.n = 0
        self.base = 0.0  # EW mean of the raw values over ~1 day: the reference for the profile
        self.season = [0.0] * 24 if seasonal else []
        self.season_n = [0] * 24 if seasonal else []

    def _seas(self, ts: float) -> float:
        if not self.season:
            return 0.0
        b = int(ts // 3600) % 24
        return self.season[b] if self.season_n[b] >= 2 else 0.0

    def _line(self) -> tuple[float, float] | None:
        """(level at t0, slope per second) of the weighted fit, None if degenerate."""
        sw, st, stt, sy, sty = self.s
        if sw <= 0:
            return None
        den = sw * stt - st * st
        slope = (sw * sty - st * sy) / den if den > 1e-12 * sw * sw * (1.0 + stt / sw) else 0.0
        return (sy - slope * st) / sw, slope

    def learn_one(self, value: float, ts: float) -> None:
        if not (finite(value) and finite(ts)):
            return
        self.n += 1
        if self.n == 1:
            self.t0 = ts
            self.base = value
        d = ts - self.t0
        if d > 0:  # move the origin to the newest timestamp and decay the old weights
            sw, st, stt, sy, sty = self.s
            st, stt, sty = st - d * sw, stt - 2 * d * st + d * d * sw, sty - d * sy
            k = math.exp(-d / self.tau)
            self.s = [sw * k, st * k, stt * k, sy * k, sty * k]
            self.t0 = ts
        t = ts - self.t0  # 0, or negative for a late point
        y = value - self._seas(ts)
        line = self._line()
        if line is not None and self.n > 3:
            r = y - (line[0] + line[1] * t)
            if self.err > 0:
                lim = self.clip * self.err
                if abs(r) > lim:
                    y -= r - math.copysign(lim, r)
            self.err += max(0.05, 1.0 / self.n) * (abs(r) - self.err)
        s = self.s
        s[0] += 1.0
        s[1] += t
        s[2] += t * t
        s[3] += y
        s[4] += t * y
        if self.season:
            # profile = EW of (value - its ~1-day mean) per hour; the mean's lag under a trend
            # shifts every hour alike, which the centring removes (no feedback from the fit)
            if d > 0:
                self.base += (1.0 - math.exp(-d / 86400.0)) * (value - self.base)
            b = int(ts // 3600) % 24
            self.season_n[b] += 1
            g = max(self.gamma, 1.0 / self.season_n[b])
            self.season[b] += g * (value - self.base - self.season[b])
            if min(self.season_n) >= 2:  # keep the profile centred: level and season separable
                m = sum(self.season) / 24.0
                self.season = [x - m for x in self.season]

    @property
    def slope(self) -> float:
        """Current trend in units per second (0 before two distinct timestamps)."""
        line = self._line()
        return line[1] if line else 0.0

    def forecast(self, ts: float) -> float | None:
        """Expected value at time ts (None before three points)."""
        line = self._line()
        if line is None or self.n < 3:
            return None
        return line[0] + line[1] * (ts - self.t0) + self._seas(ts)

    def time_to_cross(
        self, threshold: float, horizon_s: float, step_s: float | None = None
    ) -> float | None:
        """Seconds after the newest point until the forecast reaches `threshold`; None if
        not within `horizon_s`; 0.0 if the fitted value is already at or past it."""
        line = self._line()
        if line is None or self.n < 3 or not finite(threshold) or horizon_s <= 0:
            return None
        level, slope = line
        if not self.season:
            gap = threshold - level
            if gap == 0.0:
                return 0.0
            if slope == 0.0 or (gap > 0) != (slope > 0):
                return None
            t = gap / slope
            return t if t <= horizon_s else None
        step = step_s or min(900.0, horizon_s / 16)
        prev = level + self._seas(self.t0)
        side = prev >= threshold
        t = step
        while t <= horizon_s + 1e-9:
            cur = level + slope * t + self._seas(self.t0 + t)
            if (cur >= threshold) != side:
                frac = (threshold - prev) / (cur - prev) if cur != prev else 1.0
                return max(0.0, t - step + frac * step)
            prev = cur
            t += step
        return None

    def expected_range(self, k: float = 4.0) -> tuple[float, float] | None:
        f = self.forecast(self.t0)
        if f is None:
            return None
        half = k * 1.25 * self.err
        return (f - half, f + half)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_state())

    @classmethod
    def from_bytes(cls, b: bytes) -> Forecaster:
        obj = State.from_state(orjson.loads(b))
        if not isinstance(obj, cls):
            raise TypeError(f"state holds {type(obj).__name__}")
        return obj
