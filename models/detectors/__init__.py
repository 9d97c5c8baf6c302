"""Univariate streaming anomaly detectors with River's verbs, and the helpers rules use.

Every detector: `score_one(value, ts) -> float in [0, 1]` (from the past only),
`learn_one(value, ts)`, `to_bytes()` / `from_bytes(b)`, `expected_range()`.
`make_detector(name, **params)` builds one from the `DETECTORS` registry; "default" is the
configuration chosen on the NAB benchmark (benchmarks/nab/RESULTS.md).
`Detector.from_bytes(b)` restores any registered detector from its bytes.

Rule helpers: `AutoThreshold` (learned band for `condition: auto` / `auto(p99.9)`, see
`parse_auto`) and `Forecaster` (robust trend, `time_to_cross`) share the same serialiser.
"""

from __future__ import annotations

from typing import Any

from .base import Detector
from .ensemble import EnsembleDetector
from .forecast import Forecaster
from .simple import EwmaDetector, ZScoreDetector
from .threshold import AutoThreshold, parse_auto

DETECTORS: dict[str, type[Detector]] = {
    "ensemble": EnsembleDetector,
    "zscore": ZScoreDetector,
    "ewma": EwmaDetector,
}

# Parameters of the default detector, chosen on the NAB corpus (shared by all series).
DEFAULT_DETECTOR = "ensemble"
DEFAULT_PARAMS: dict[str, Any] = {}  # the tuned values are EnsembleDetector's defaults


def make_detector(name: str = "default", **params: Any) -> Detector:
    """Build a detector by registry name; "default" is the benchmarked configuration."""
    if name == "default":
        return DETECTORS[DEFAULT_DETECTOR](**{**DEFAULT_PARAMS, **params})
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; known: {sorted(DETECTORS)}") from None
    return cls(**params)


__all__ = [
    "DEFAULT_DETECTOR",
    "DEFAULT_PARAMS",
    "DETECTORS",
    "AutoThreshold",
    "Detector",
    "EnsembleDetector",
    "EwmaDetector",
    "Forecaster",
    "ZScoreDetector",
    "make_detector",
    "parse_auto",
]
