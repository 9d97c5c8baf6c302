"""The default detector: raw scorers -> likelihood -> seasonal veto -> one alert per episode.

Why this shape (each step measured on NAB, see benchmarks/nab/RESULTS.md):
- one residual is blind to some anomaly kinds, so several cheap scorers run side by side
  (EWMA residual, long windowed Gaussian, time-of-day profile);
- raw residuals have a per-series baseline, so each is squashed to [0, 1) and turned into an
  HTM-style likelihood (recent mean of raw scores vs their own long-run distribution); the
  detector reports the strongest;
- a value that the time-of-day profile expects is damped (periodic spikes are not news);
- a value beyond the whole range seen so far (by `spatial_tol` of it) scores 1.0, as NAB's
  HTM detector does: unprecedented values are the commonest real anomaly;
- after a score >= `fire`, the next points are damped for a quiet period that grows with the
  history seen, and the bar is raised to the score that fired, relaxing back: one episode
  gives one alert, which is what on-call (and NAB) reward.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .base import Detector, clamp01, finite
from .scorers import SCORERS, Residual, Scorer, Seasonal, squash
from .stats import Likelihood

# per-scorer settings that differ from the scorer classes' own defaults (tuned on NAB)
SCORER_PARAMS: dict[str, dict[str, Any]] = {"gauss": {"alpha": 0.0003}}


class EnsembleDetector(Detector):
    """Max of per-scorer anomaly likelihoods, seasonal veto, spatial check, quiet period."""

    name = "ensemble"

    __slots__ = (
        "bar",
        "c",
        "cache",
        "damp",
        "fire",
        "hi",
        "hold",
        "hold_decay",
        "lik",
        "lo",
        "n",
        "quiet",
        "quiet_break",
        "quiet_frac",
        "quiet_left",
        "quiet_max",
        "scorers",
        "spatial_tol",
        "spatial_warmup",
        "veto",
        "veto_min",
        "veto_z",
        "weights",
    )

    def __init__(
        self,
        scorers: Sequence[str] = ("residual", "gauss", "seasonal"),
        scorer_params: Mapping[str, Mapping[str, Any]] | None = None,
        weights: Sequence[float] | None = None,
        c: float = 5.0,
        short: int = 14,
        long_alpha: float = 0.0005,
        learning: int = 150,
        var_floor: float = 1e-3,
        fire: float = 0.5,
        quiet: int = 100,
        quiet_frac: float = 0.05,
        quiet_max: int = 600,
        damp: float = 0.1,
        hold: float = 1.0,
        hold_decay: float = 0.003,
        spatial_tol: float = 0.02,
        spatial_warmup: int = 20,
        veto: float = 3.0,
        veto_min: float = 0.3,
        quiet_break: float = 1.0,
    ) -> None:
        sp = {**SCORER_PARAMS, **(scorer_params or {})}
        self.scorers: list[Scorer] = [SCORERS[n](**sp.get(n, {})) for n in scorers]
        self.weights = list(weights) if weights is not None else [1.0] * len(self.scorers)
        self.lik = [Likelihood(short, long_alpha, learning, var_floor) for _ in self.scorers]
        self.c = c  # squash z/(z+c): keeps magnitude information up to z ~ 10c
        self.fire = fire
        self.quiet = quiet
        self.quiet_frac = quiet_frac
        self.quiet_max = quiet_max
        self.damp = damp
        self.quiet_left = 0
        self.quiet_break = quiet_break  # a score this high ends a quiet period (> 1: never)
        self.hold = hold
        self.hold_decay = hold_decay
        self.bar = fire
        self.spatial_tol = spatial_tol
        self.spatial_warmup = spatial_warmup
        self.lo = math.inf
        self.hi = -math.inf
        # the veto reads the "seasonal" scorer when there is one (shared state), else its own
        self.veto: int | Seasonal | None = None
        if veto:
            own = [i for i, s in enumerate(self.scorers) if isinstance(s, Seasonal)]
            self.veto = own[0] if own else Seasonal(**sp.get("seasonal", {}))
        self.veto_z = veto
        self.veto_min = veto_min
        self.n = 0
        self.cache: list[Any] = [None, None, None, None]  # value, ts, raws, score

    def _veto(self) -> Seasonal | None:
        v = self.veto
        return self.scorers[v] if isinstance(v, int) else v  # type: ignore[return-value]

    def _compute(self, x: float, ts: float) -> tuple[list[float], float]:
        cache = self.cache
        if cache[0] == x and cache[1] == ts:
            return cache[2], cache[3]
        c = self.c
        raws = [squash(sc.raw(x, ts), c) for sc in self.scorers]
        s = 0.0
        for lik, w, r in zip(self.lik, self.weights, raws, strict=True):
            v = w * lik.score(r)
            if v > s:
                s = v
        veto = self._veto()
        if veto is not None and veto.trained(ts):
            s *= self.veto_min + (1.0 - self.veto_min) * min(1.0, veto.raw(x, ts) / self.veto_z)
        if self.spatial_tol and self.n >= self.spatial_warmup and self.hi > self.lo:
            tol = self.spatial_tol * (self.hi - self.lo)
            if x > self.hi + tol or x < self.lo - tol:
                s = 1.0
        s = clamp01(s)
        self.cache = [x, ts, raws, s]
        return raws, s

    def score_one(self, value: float, ts: float) -> float:
        if not finite(value):
            return 0.0
        _, s = self._compute(value, ts)
        if self.quiet_left > 0 and s < self.quiet_break:
            return s * self.damp
        return s * self.fire / self.bar if self.bar > self.fire else s

    def learn_one(self, value: float, ts: float) -> None:
        if not finite(value):
            return
        raws, s = self._compute(value, ts)
        self.cache = [None, None, None, None]
        if self.quiet_left > 0 and s < self.quiet_break:
            self.quiet_left -= 1
        elif s >= self.bar:
            q = max(self.quiet_frac * self.n, self.quiet)
            self.quiet_left = int(min(q, self.quiet_max))
            if self.hold:
                self.bar = max(self.bar, self.hold * s)
        if self.bar > self.fire:
            self.bar = max(self.fire, self.bar - self.hold_decay * (self.bar - self.fire) - 1e-9)
        self.n += 1
        self.lo = min(self.lo, value)
        self.hi = max(self.hi, value)
        for sc in self.scorers:
            sc.learn(value, ts)
        for lik, r in zip(self.lik, raws, strict=True):
            lik.learn(r)
        if isinstance(self.veto, Seasonal):
            self.veto.learn(value, ts)

    def expected_range(self) -> tuple[float, float] | None:
        for sc in self.scorers:
            if isinstance(sc, Residual) and sc.n >= 2:
                half = 4.0 * 1.25 * sc.err  # ~4 sigma: mean absolute error x 1.25 ~ sigma
                return (sc.level - half, sc.level + half)
        return None
