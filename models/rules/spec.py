"""What the rule evaluators need to know about a rule, as plain validated values.

The configuration schema (``app.config.rules``) parses and checks `rules:` in
pipelines.yaml and builds these with ``to_spec()`` (the defaults live there, once); the
evaluators in ``models.rules`` read only these, so the models never depend on the config
loader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSpec:
    """The part every rule kind shares: which samples, and what its alerts say."""

    alert: str
    metric: str
    match: Mapping[str, str]
    severity: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowedSpec(RuleSpec):
    """A rule judged once per closed tumbling window of ``window`` seconds."""

    window: float
    grace: float
    aggregate: str
    for_: float  # how long the condition must hold before it fires (0 for predict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ThresholdSpec(WindowedSpec):
    """``op threshold`` (e.g. ``> 90``), or, with ``auto_quantile`` set, outside the band
    learned per series."""

    kind: Literal["threshold"] = "threshold"
    op: str | None  # None when auto_quantile is set
    threshold: float | None
    auto_quantile: float | None
    seasonality: str | None
    warmup: int
    tolerance: float
    clear_threshold: float | None = None  # hysteresis: holds on until crossing this


@dataclass(frozen=True, slots=True, kw_only=True)
class PredictSpec(WindowedSpec):
    """A forecast of the window aggregates crossing ``limit`` within ``horizon``."""

    kind: Literal["predict"] = "predict"
    limit: float
    direction: Literal["above", "below"]
    horizon: float
    min_points: int
    memory: float
    seasonal: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalySpec(RuleSpec):
    """Every sample scored by an online detector learned per series."""

    kind: Literal["anomaly"] = "anomaly"
    detector: str
    params: Mapping[str, Any]
    threshold: float
    warmup: int
    resolve_after: int
