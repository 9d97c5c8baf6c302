"""AutoThreshold: a learned band of normal values per series, for rules with `condition: auto`.

Why: static thresholds are wrong for most series; a rule author wants "alert when this is
outside what it usually is". The band is the (1 - q, q) quantile pair learned online:
globally with the P-square algorithm (exact-ish quantiles in O(1) memory), and optionally
per hour-of-day or hour-of-week bucket with an EW median / MAD (cheap, 2 numbers a bucket),
falling back to the global band while a bucket is cold.
"""

from __future__ import annotations

import re
from statistics import NormalDist

import orjson

from .base import State, finite

_AUTO = re.compile(r"^\s*auto\s*(?:\(\s*p?\s*([0-9]*\.?[0-9]+)\s*\))?\s*$")


def parse_auto(condition: str) -> float | None:
    """'auto' -> 0.999, 'auto(p99)' -> 0.99, 'auto(p99.9)' -> 0.999; None if not 'auto'."""
    m = _AUTO.match(condition)
    if not m:
        return None
    if m.group(1) is None:
        return 0.999
    q = round(float(m.group(1)) / 100.0, 10)
    if not 0.5 < q < 1.0:
        raise ValueError(f"auto quantile must be in (p50, p100): {condition!r}")
    return q


class P2Quantile(State):
    """Jain & Chlamtac's P-square estimator of one quantile: five markers, O(1) per point."""

    __slots__ = ("dn", "init", "n", "np", "p", "q")

    def __init__(self, p: float) -> None:
        self.p = p
        self.init: list[float] = []
        self.q: list[float] = []
        self.n = [0, 1, 2, 3, 4]
        self.np = [0.0, 2 * p, 4 * p, 2 + 2 * p, 4.0]
        self.dn = [0.0, p / 2, p, (1 + p) / 2, 1.0]

    @property
    def count(self) -> int:
        return len(self.init) if not self.q else self.n[4] + 1

    def update(self, x: float) -> None:
        if not self.q:
            self.init.append(x)
            if len(self.init) == 5:
                self.q = sorted(self.init)
                self.init = []
            return
        q, n = self.q, self.n
        if x < q[0]:
            q[0] = x
            k = 0
        elif x >= q[4]:
            q[4] = x
            k = 3
        else:
            k = 0
            while k < 3 and x >= q[k + 1]:
                k += 1
        for i in range(k + 1, 5):
            n[i] += 1
        for i in range(5):
            self.np[i] += self.dn[i]
        for i in (1, 2, 3):
            d = self.np[i] - n[i]
            if (d >= 1 and n[i + 1] - n[i] > 1) or (d <= -1 and n[i - 1] - n[i] < -1):
                s = 1 if d > 0 else -1
                qp = q[i] + s / (n[i + 1] - n[i - 1]) * (
                    (n[i] - n[i - 1] + s) * (q[i + 1] - q[i]) / (n[i + 1] - n[i])
                    + (n[i + 1] - n[i] - s) * (q[i] - q[i - 1]) / (n[i] - n[i - 1])
                )
                if not q[i - 1] < qp < q[i + 1]:  # parabolic step left the bracket: linear
                    qp = q[i] + s * (q[i + s] - q[i]) / (n[i + s] - n[i])
                q[i] = qp
                n[i] += s

    def value(self) -> float | None:
        if self.q:
            return self.q[2]
        if not self.init:
            return None
        srt = sorted(self.init)
        return srt[min(len(srt) - 1, int(self.p * len(srt)))]


SEASONS = {"hour": (3600.0, 24), "hour_of_week": (3600.0, 168)}


class AutoThreshold(State):
    """Online band (lo, hi) of normal values; `score_one` grows with the distance outside it."""

    __slots__ = ("alpha", "hi", "k", "lo", "mad", "med", "min_n", "nb", "q", "season", "slot")

    def __init__(
        self, q: float = 0.999, seasonality: str | None = None, alpha: float = 0.05, min_n: int = 30
    ) -> None:
        if not 0.5 < q < 1.0:
            raise ValueError("q must be in (0.5, 1)")
        if seasonality is not None and seasonality not in SEASONS:
            raise ValueError(f"seasonality must be one of {sorted(SEASONS)} or None")
        self.q = q
        self.hi = P2Quantile(q)
        self.lo = P2Quantile(1.0 - q)
        self.min_n = min_n
        self.season = seasonality
        self.alpha = alpha
        self.k = NormalDist().inv_cdf(q) * 1.4826  # MAD -> sigma, then the normal quantile
        nb = SEASONS[seasonality][1] if seasonality else 0
        self.slot = SEASONS[seasonality][0] if seasonality else 0.0
        self.med = [0.0] * nb
        self.mad = [0.0] * nb
        self.nb = [0] * nb

    def _bucket(self, ts: float) -> int:
        return int(ts // self.slot) % len(self.med)

    def learn_one(self, value: float, ts: float = 0.0) -> None:
        if not finite(value):
            return
        self.hi.update(value)
        self.lo.update(value)
        if self.season:
            b = self._bucket(ts)
            n = self.nb[b] = self.nb[b] + 1
            if n == 1:
                self.med[b] = value
                return
            a = max(self.alpha, 1.0 / n)
            dev = value - self.med[b]
            self.mad[b] += a * (abs(dev) - self.mad[b])
            step = a * max(self.mad[b], 1e-9 * (1.0 + abs(self.med[b])))
            self.med[b] += step if dev > 0 else -step if dev < 0 else 0.0

    def band(self, ts: float | None = None) -> tuple[float, float] | None:
        """Current (lo, hi); the seasonal bucket of `ts` when warm, else the global quantiles."""
        if self.season and ts is not None:
            b = self._bucket(ts)
            if self.nb[b] >= self.min_n:
                half = self.k * self.mad[b]
                return (self.med[b] - half, self.med[b] + half)
        if self.hi.count < self.min_n:
            return None
        lo, hi = self.lo.value(), self.hi.value()
        if lo is None or hi is None:
            return None
        return (min(lo, hi), max(lo, hi))

    def score_one(self, value: float, ts: float = 0.0) -> float:
        """0 inside the band; outside, excess / (excess + band width), so in [0, 1)."""
        b = self.band(ts)
        if b is None or not finite(value):
            return 0.0
        lo, hi = b
        excess = value - hi if value > hi else lo - value if value < lo else 0.0
        if excess <= 0.0:
            return 0.0
        width = hi - lo
        width = width if width > 0 else 1e-9 * (1.0 + abs(hi))
        return excess / (excess + width)

    def is_anomalous(self, value: float, ts: float = 0.0) -> bool:
        return self.score_one(value, ts) > 0.0

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_state())

    @classmethod
    def from_bytes(cls, b: bytes) -> AutoThreshold:
        obj = State.from_state(orjson.loads(b))
        if not isinstance(obj, cls):
            raise TypeError(f"state holds {type(obj).__name__}")
        return obj
