"""Single-scorer baselines: one raw residual read as a normal tail probability.

Why keep them: they are the cheapest detectors (~2-4 µs a point), a sanity baseline in the
benchmark, and a fallback for series where the ensemble's warm-up is too long.
"""

from __future__ import annotations

from typing import Any

from .base import Detector, finite
from .scorers import Gauss, Residual, Scorer, squash


class _Single(Detector):
    __slots__ = ("sc",)
    sc: Scorer

    def score_one(self, value: float, ts: float) -> float:
        if not finite(value):
            return 0.0
        return squash(self.sc.raw(value, ts), 4.0)

    def learn_one(self, value: float, ts: float) -> None:
        if finite(value):
            self.sc.learn(value, ts)


class ZScoreDetector(_Single):
    """Windowed Gaussian: distance to an EW mean in EW standard deviations."""

    name = "zscore"
    __slots__ = ()

    def __init__(self, **params: Any) -> None:
        self.sc = Gauss(**params)

    def expected_range(self) -> tuple[float, float] | None:
        st = self.sc.st
        if st.n < 2:
            return None
        return (st.mean - 4.0 * st.std, st.mean + 4.0 * st.std)


class EwmaDetector(_Single):
    """Error of a fast EWMA forecast over the EW mean absolute error."""

    name = "ewma"
    __slots__ = ()

    def __init__(self, **params: Any) -> None:
        self.sc = Residual(**params)

    def expected_range(self) -> tuple[float, float] | None:
        sc = self.sc
        if sc.n < 2:
            return None
        half = 5.0 * sc.err
        return (sc.level - half, sc.level + half)
