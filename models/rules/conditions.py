"""What a closed window is judged against: one small interface, three kinds.

Every condition has ``new_model()`` (the per-series state it learns, or None) and
``judge(model, value, ts) -> (holds, context)``, where ``context`` adds variables to
the annotation templates and annotations of its own (the learned band, the forecast).
A judge sees the window's value before it learns from it: never the future.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from models.detectors.forecast import Forecaster
from models.detectors.threshold import AutoThreshold
from models.rules.spec import PredictSpec, ThresholdSpec

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

Context = dict[str, Any]


class StaticCondition:
    """``> 90``: a fixed comparison; no model.

    With a clear threshold (``> 90``, clear at 80), ``hold`` is the comparison a series
    that is already pending or firing must keep meeting: it holds from the window that
    crossed 90 until one falls to 80 or below, so a value hovering at 90 does not flap."""

    def __init__(self, op: str, threshold: float, clear_threshold: float | None = None) -> None:
        check = self.check = _OPS[op]
        self.threshold = threshold
        self.context: Context = {"threshold": threshold}  # the same for every window
        self.hold: Callable[[float], bool] | None = (
            None if clear_threshold is None else lambda value: check(value, clear_threshold)
        )

    def new_model(self) -> None:
        return None

    def judge(self, model: None, value: float, ts: float) -> tuple[bool, Context]:
        return self.check(value, self.threshold), self.context


class AutoCondition:
    """``auto(p99.9)``: outside the band of normal values learned for this series."""

    hold = None  # no hysteresis

    def __init__(
        self, quantile: float, seasonality: str | None, warmup: int, tolerance: float
    ) -> None:
        self.quantile = quantile
        self.seasonality = seasonality
        self.warmup = warmup
        self.tolerance = tolerance  # widens the band: extreme quantiles are noisy early on

    def new_model(self) -> AutoThreshold:
        return AutoThreshold(self.quantile, self.seasonality, min_n=self.warmup)

    def judge(self, model: AutoThreshold, value: float, ts: float) -> tuple[bool, Context]:
        band = model.band(ts)
        model.learn_one(value, ts)
        if band is None:
            return False, {}
        margin = (band[1] - band[0]) * self.tolerance
        lo, hi = band[0] - margin, band[1] + margin
        holds = not lo <= value <= hi
        return holds, {
            "lower": lo,
            "upper": hi,
            "annotations": {"expected_range": f"{lo:.6g} .. {hi:.6g}"},
        }


class PredictCondition:
    """A forecast of the series reaching ``limit`` within ``horizon``."""

    hold = None  # no hysteresis

    def __init__(self, rule: PredictSpec) -> None:
        self.rule = rule

    def new_model(self) -> Forecaster:
        return Forecaster(tau=self.rule.memory, seasonal=self.rule.seasonal)

    def judge(self, model: Forecaster, value: float, ts: float) -> tuple[bool, Context]:
        rule = self.rule
        model.learn_one(value, ts)
        if model.n < rule.min_points:
            return False, {}
        now_value = model.forecast(ts)
        above = rule.direction == "above"
        if now_value is not None and (
            now_value >= rule.limit if above else now_value <= rule.limit
        ):
            eta: float | None = 0.0
        else:
            eta = model.time_to_cross(rule.limit, rule.horizon)
            if eta is not None and (model.slope > 0) != above:
                eta = None  # crossing the other way
        if eta is None:
            return False, {"slope_per_hour": model.slope * 3600}
        at = datetime.fromtimestamp(ts + eta, UTC).isoformat(timespec="seconds")
        return True, {
            "predicted_in": eta,
            "predicted_at": at,
            "slope_per_hour": model.slope * 3600,
            "annotations": {"predicted_at": at, "predicted_in": f"{eta / 3600:.2f}h"},
        }


Condition = StaticCondition | AutoCondition | PredictCondition


def condition_for(rule: ThresholdSpec | PredictSpec) -> Condition:
    if isinstance(rule, PredictSpec):
        return PredictCondition(rule)
    q = rule.auto_quantile
    if q is not None:
        return AutoCondition(q, rule.seasonality, rule.warmup, rule.tolerance)
    assert rule.op is not None and rule.threshold is not None
    return StaticCondition(rule.op, rule.threshold, rule.clear_threshold)
