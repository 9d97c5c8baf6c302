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

from collections.abc import Mapping, Sequence
from typing import Any

from .base import Detector, clamp01, finite
from .scorers import SCORERS, Residual, Scorer, squash
from .stats import Likelihood


class EnsembleDetector(Detector):
    """Max of per-scorer anomaly likelihoods with post-detection quiet period."""

    name = "ensemble"

    __slots__ = (
        "c",
        "cache",
        "damp",
        "fire",
        "lik",
        "mix",
        "quiet",
        "quiet_left",
        "scorers",
        "weights",
    )

    def __init__(
        self,
        scorers: Sequence[str] = ("residual", "gauss", "diff", "seasonal"),
        scorer_params: Mapping[str, Mapping[str, Any]] | None = None,
        weights: Sequence[float] | None = None,
        c: float = 3.0,
        short: int = 10,
        long_alpha: float = 1 / 2000,
        learning: int = 300,
        var_floor: float = 1e-4,
        mix: float = 0.0,
        fire: float = 0.5,
        quiet: int = 200,
        damp: float = 0.1,
    ) -> None:
        sp = scorer_params or {}
        self.scorers: list[Scorer] = [SCORERS[n](**sp.get(n, {})) for n in scorers]
        self.weights = list(weights) if weights is not None else [1.0] * len(self.scorers)
        self.lik = [Likelihood(short, long_alpha, learning, var_floor) for _ in self.scorers]
        self.c = c
        self.mix = mix  # 0: max of likelihoods; >0: blend in their mean
        self.fire = fire
        self.quiet = quiet
        self.damp = damp
        self.quiet_left = 0
        self.cache: list[Any] = [None, None, None, None]  # value, ts, raws, combined score

    def _raws(self, x: float, ts: float) -> list[float]:
        c = self.c
        return [squash(s.raw(x, ts), c) for s in self.scorers]

    def _combine(self, raws: list[float]) -> float:
        best = 0.0
        tot = 0.0
        for lik, w, r in zip(self.lik, self.weights, raws, strict=True):
            v = w * lik.score(r)
            tot += v
            if v > best:
                best = v
        if self.mix:
            best = (1.0 - self.mix) * best + self.mix * tot / len(raws)
        return clamp01(best)

    def _compute(self, x: float, ts: float) -> tuple[list[float], float]:
        cache = self.cache
        if cache[0] == x and cache[1] == ts:
            return cache[2], cache[3]
        raws = self._raws(x, ts)
        s = self._combine(raws)
        self.cache = [x, ts, raws, s]
        return raws, s

    def score_one(self, value: float, ts: float) -> float:
        if not finite(value):
            return 0.0
        _, s = self._compute(value, ts)
        return s * self.damp if self.quiet_left > 0 else s

    def learn_one(self, value: float, ts: float) -> None:
        if not finite(value):
            return
        raws, s = self._compute(value, ts)
        if self.quiet_left > 0:
            self.quiet_left -= 1
        elif s >= self.fire:
            self.quiet_left = self.quiet
        for sc, lik, r in zip(self.scorers, self.lik, raws, strict=True):
            sc.learn(value, ts)
            lik.learn(r)
        self.cache = [None, None, None, None]

    def expected_range(self) -> tuple[float, float] | None:
        for sc in self.scorers:
            if isinstance(sc, Residual) and sc.n >= 2:
                half = 4.0 * 1.25 * sc.err  # ~4sigma: mean absolute error x 1.25 ~ sigma
                return (sc.level - half, sc.level + half)
        return None
