"""The default detector: several raw scorers → HTM-style anomaly likelihood → one alert per episode.

Why this shape (measured on NAB, see benchmarks/nab/RESULTS.md): a single residual is
blind to some anomaly kinds, raw residuals have a per-series baseline that a fixed
threshold cannot handle, and NAB (like an on-call human) rewards the first detection of an
episode and punishes the repeats. So: each raw scorer's output is squashed to [0, 1) and
turned into a likelihood (recent mean of raw scores vs their own long-run distribution);
the detector reports the strongest one; after a score ≥ `fire`, the following `quiet`
points are damped so one episode yields one alert.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .base import Detector, clamp01, finite
from .scorers import SCORERS, Context, Residual, Scorer, Seasonal, squash
from .stats import Extreme, Likelihood


class EnsembleDetector(Detector):
    """Max of per-scorer anomaly likelihoods with post-detection quiet period."""

    name = "ensemble"

    __slots__ = (
        "bar",
        "c",
        "cache",
        "damp",
        "fire",
        "gate",
        "gate_min",
        "hi",
        "hold",
        "hold_decay",
        "learning",
        "lik",
        "lo",
        "mix",
        "n",
        "quiet",
        "quiet_frac",
        "quiet_left",
        "quiet_max",
        "scorers",
        "spatial_tol",
        "spatial_warmup",
        "veto",
        "veto_min",
        "veto_z",
        "src",
        "weights",
    )

    def __init__(
        self,
        scorers: Sequence[str] = ("residual", "gauss", "diff", "seasonal"),
        scorer_params: Mapping[str, Mapping[str, Any]] | None = None,
        weights: Sequence[float] | None = None,
        c: float = 3.0,
        short: int | Sequence[int] = 10,
        long_alpha: float = 1 / 2000,
        learning: int = 300,
        var_floor: float = 1e-4,
        mix: float = 0.0,
        fire: float = 0.5,
        quiet: int = 200,
        quiet_frac: float = 0.0,
        quiet_max: int = 1000,
        damp: float = 0.1,
        lik: str = "gauss",
        decay: float = 1e-4,
        gate: Mapping[str, Any] | None = None,
        gate_min: float = 1.0,
        hold: float = 0.0,
        hold_decay: float = 0.001,
        spatial_tol: float = 0.0,
        spatial_warmup: int = 300,
        veto: float = 0.0,
        veto_min: float = 0.3,
        veto_params: Mapping[str, Any] | None = None,
    ) -> None:
        sp = scorer_params or {}
        self.scorers: list[Scorer] = [SCORERS[n](**sp.get(n, {})) for n in scorers]
        self.weights = list(weights) if weights is not None else [1.0] * len(self.scorers)
        shorts = [short] if isinstance(short, int) else list(short)
        if lik == "gauss":
            self.lik = [
                Likelihood(w, long_alpha, learning, var_floor) for _ in self.scorers for w in shorts
            ]
        else:
            self.lik = [
                Extreme(w, long_alpha, learning, decay) for _ in self.scorers for w in shorts
            ]
        # likelihood j watches scorer src[j]
        self.src = [i for i in range(len(self.scorers)) for _ in shorts]
        self.weights = [w for w in self.weights for _ in shorts]
        self.c = c
        # optional novelty gate: a Context scorer whose raw value scales the final score
        self.gate = Context(**gate) if gate is not None else None
        self.gate_min = gate_min
        self.mix = mix  # 0: max of likelihoods; >0: blend in their mean
        self.fire = fire
        self.quiet = quiet
        self.quiet_frac = quiet_frac  # quiet period grows with the history seen, up to quiet_max
        self.quiet_max = quiet_max
        self.n = 0
        self.learning = learning
        self.damp = damp
        self.quiet_left = 0
        # raised bar after a detection: the next one must beat hold x the last score,
        # the bar relaxing back to `fire` by hold_decay per point
        self.hold = hold
        self.hold_decay = hold_decay
        self.bar = fire
        # spatial anomaly (as NAB's HTM detector): a value beyond the range seen so far by more
        # than spatial_tol x that range scores 1.0
        self.spatial_tol = spatial_tol
        self.spatial_warmup = spatial_warmup
        self.lo = math.inf
        # seasonal veto: a value close to what this time of day usually shows is damped
        self.veto = Seasonal(**(veto_params or {})) if veto else None
        self.veto_z = veto
        self.veto_min = veto_min
        self.hi = -math.inf
        self.cache: list[Any] = [None, None, None, None]  # value, ts, raws, combined score

    def _raws(self, x: float, ts: float) -> list[float]:
        c = self.c
        return [s.raw(x, ts) if s.bounded else squash(s.raw(x, ts), c) for s in self.scorers]

    def _combine(self, raws: list[float]) -> float:
        best = 0.0
        tot = 0.0
        for lik, w, i in zip(self.lik, self.weights, self.src, strict=True):
            v = w * lik.score(raws[i])
            tot += v
            if v > best:
                best = v
        if self.mix:
            best = (1.0 - self.mix) * best + self.mix * tot / len(self.lik)
        return clamp01(best)

    def _compute(self, x: float, ts: float) -> tuple[list[float], float]:
        cache = self.cache
        if cache[0] == x and cache[1] == ts:
            return cache[2], cache[3]
        raws = self._raws(x, ts)
        s = self._combine(raws)
        if self.gate is not None and self.gate.n >= self.gate.warmup:
            g = self.gate.raw(x, ts)
            s *= self.gate_min + (1.0 - self.gate_min) * g
        if self.veto is not None:
            z = self.veto.raw(x, ts)
            if z >= 0.0 and self.veto.trained(ts):
                s *= self.veto_min + (1.0 - self.veto_min) * min(1.0, z / self.veto_z)
        if self.spatial_tol and self.n >= self.spatial_warmup and self.hi > self.lo:
            tol = self.spatial_tol * (self.hi - self.lo)
            if x > self.hi + tol or x < self.lo - tol:
                s = 1.0
        self.cache = [x, ts, raws, s]
        return raws, s

    def score_one(self, value: float, ts: float) -> float:
        if not finite(value):
            return 0.0
        _, s = self._compute(value, ts)
        if self.quiet_left > 0:
            return s * self.damp
        return s * self.fire / self.bar if self.bar > self.fire else s

    def learn_one(self, value: float, ts: float) -> None:
        if not finite(value):
            return
        raws, s = self._compute(value, ts)
        if self.quiet_left > 0:
            self.quiet_left -= 1
        elif s >= self.bar:
            q = self.quiet_frac * self.n
            self.quiet_left = int(min(max(q, self.quiet), self.quiet_max))
            if self.hold:
                self.bar = max(self.bar, self.hold * s)
        if self.bar > self.fire:
            self.bar = max(self.fire, self.bar - self.hold_decay * (self.bar - self.fire) - 1e-9)
        self.n += 1
        if value < self.lo:
            self.lo = value
        if value > self.hi:
            self.hi = value
        for sc in self.scorers:
            sc.learn(value, ts)
        for lik, i in zip(self.lik, self.src, strict=True):
            lik.learn(raws[i])
        if self.gate is not None:
            self.gate.learn(value, ts)
        if self.veto is not None:
            self.veto.learn(value, ts)
        self.cache = [None, None, None, None]

    def expected_range(self) -> tuple[float, float] | None:
        for sc in self.scorers:
            if isinstance(sc, Residual) and sc.n >= 2:
                half = 4.0 * 1.25 * sc.err  # ~4sigma: mean absolute error x 1.25 ~ sigma
                return (sc.level - half, sc.level + half)
        return None
