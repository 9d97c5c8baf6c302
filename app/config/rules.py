"""Rule definitions: what `rules:` in pipelines.yaml may say.

Three kinds share one shape (alert, metric, match, severity, labels, annotations):
``threshold`` (the default: an aggregate over a window against a fixed condition, or
against a band learned per series with ``condition: auto``), ``anomaly`` (every sample
scored by an online detector) and ``predict`` (a forecast crossing a limit within a
horizon).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from models.detectors import DETECTORS, make_detector
from models.detectors.threshold import SEASONS, parse_auto
from models.durations import Duration
from models.rules.annotations import compile_template
from models.rules.composite import AllOf, AnyOf, CompositeSpec, Expr, Not, Ref, holds, references
from models.rules.spec import AnomalySpec, PredictSpec, RuleSpec, ThresholdSpec
from models.rules.window import AGGREGATES
from models.suppression.matchers import is_valid_label_name

_CONDITION = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$")
OPERATORS = (">", ">=", "<", "<=", "==", "!=")


def parse_condition(text: str) -> tuple[str, float]:
    m = _CONDITION.match(text)
    if not m:
        raise ValueError(
            f"{text!r} is not a condition such as '> 90' or 'auto(p99.9)' "
            f"(operators: {', '.join(OPERATORS)})"
        )
    return m.group(1), float(m.group(2))


class AlertFields(BaseModel):
    """What every rule says about its alerts (metric, composite and event rules)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    alert: str = Field(min_length=1)
    severity: str = "warning"
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}

    @field_validator("annotations")
    @classmethod
    def _templates(cls, v: dict[str, str]) -> dict[str, str]:
        for key, source in v.items():
            try:
                compile_template(source)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return v


class _RuleBase(AlertFields):
    metric: str = Field(min_length=1)
    match: dict[str, str] = {}

    def _common(self) -> dict[str, Any]:
        """The fields every rule spec shares (``models.rules.spec.RuleSpec``)."""
        return {
            "alert": self.alert,
            "metric": self.metric,
            "match": dict(self.match),
            "severity": self.severity,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
        }


class _Windowed(_RuleBase):
    window: Duration = 60.0
    grace: Duration = 2.0
    aggregate: str = "avg"

    @field_validator("aggregate")
    @classmethod
    def _aggregate(cls, v: str) -> str:
        if v not in AGGREGATES:
            raise ValueError(f"{v!r} is not one of {', '.join(AGGREGATES)}")
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("a window must be longer than 0s")
        return v

    def _windowed(self) -> dict[str, Any]:
        """The fields every windowed rule spec shares (``WindowedSpec``) but ``for_``."""
        return {
            **self._common(),
            "window": self.window,
            "grace": self.grace,
            "aggregate": self.aggregate,
        }


class ThresholdRule(_Windowed):
    """Fire when a window's aggregate meets ``condition`` ('> 90'), or, with
    ``condition: auto`` / ``auto(p99.9)``, falls outside the band learned per series."""

    kind: Literal["threshold"] = "threshold"
    condition: str
    for_: Duration = Field(0.0, alias="for")
    seasonality: Literal["hour", "hour_of_week"] | None = None
    warmup: int = Field(30, ge=5, description="windows learned before an auto band judges")
    tolerance: float = Field(
        0.1, ge=0.0, description="auto: fraction of the band's width added on each side"
    )
    clear_threshold: float | None = Field(
        None, description="hysteresis: a pending or firing series holds until it crosses this"
    )

    @field_validator("condition")
    @classmethod
    def _condition(cls, v: str) -> str:
        if parse_auto(v) is None:
            parse_condition(v)
        return v

    @model_validator(mode="after")
    def _clear(self) -> ThresholdRule:
        """The clear threshold lies on the near side of the fire threshold."""
        clear = self.clear_threshold
        if clear is None:
            return self
        if parse_auto(self.condition) is not None:
            raise ValueError("clear_threshold: only with a fixed condition such as '> 90'")
        op, threshold = parse_condition(self.condition)
        if op in ("==", "!="):
            raise ValueError(f"clear_threshold: not with {op}, only with >, >=, <, <=")
        if clear > threshold if op[0] == ">" else clear < threshold:
            side = "at or below" if op[0] == ">" else "at or above"
            raise ValueError(
                f"clear_threshold: {clear:g} must be {side} the threshold {threshold:g}"
            )
        return self

    def to_spec(self) -> ThresholdSpec:
        auto = parse_auto(self.condition)
        op, threshold = parse_condition(self.condition) if auto is None else (None, None)
        return ThresholdSpec(
            **self._windowed(),
            for_=self.for_,
            op=op,
            threshold=threshold,
            auto_quantile=auto,
            seasonality=self.seasonality,
            warmup=self.warmup,
            tolerance=self.tolerance,
            clear_threshold=self.clear_threshold,
        )


class AnomalyRule(_RuleBase):
    """Score every sample of each series with an online detector (learned per series)."""

    kind: Literal["anomaly"]
    detector: str = "default"
    params: dict[str, Any] = {}
    threshold: float = Field(0.6, gt=0.0, le=1.0, description="score at or above which it fires")
    warmup: int = Field(150, ge=0, description="points learned before scores count")
    resolve_after: int = Field(10, ge=1, description="normal points in a row that resolve it")

    @field_validator("detector")
    @classmethod
    def _detector(cls, v: str) -> str:
        if v != "default" and v not in DETECTORS:
            raise ValueError(f"{v!r} is not one of default, {', '.join(sorted(DETECTORS))}")
        return v

    @model_validator(mode="after")
    def _params(self) -> AnomalyRule:
        """Build one detector now, so a wrong parameter is a config error, not a crash."""
        try:
            make_detector(self.detector, **self.params)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"params: {exc}") from None
        return self

    def to_spec(self) -> AnomalySpec:
        return AnomalySpec(
            **self._common(),
            detector=self.detector,
            params=dict(self.params),
            threshold=self.threshold,
            warmup=self.warmup,
            resolve_after=self.resolve_after,
        )


class PredictRule(_Windowed):
    """Forecast each series from its window aggregates; fire when the forecast crosses
    ``limit`` within ``horizon`` ("disk full in < 4h")."""

    kind: Literal["predict"]
    limit: float
    direction: Literal["above", "below"] = "above"
    horizon: Duration = 4 * 3600.0
    min_points: int = Field(5, ge=3)
    memory: Duration = Field(6 * 3600.0, description="how far back the trend looks")
    seasonal: bool = False
    window: Duration = 300.0

    def to_spec(self) -> PredictSpec:
        return PredictSpec(
            **self._windowed(),
            for_=0.0,
            limit=self.limit,
            direction=self.direction,
            horizon=self.horizon,
            min_points=self.min_points,
            memory=self.memory,
            seasonal=self.seasonal,
        )


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return value.get("kind", "threshold")
    return getattr(value, "kind", "threshold")


LeafRule = Annotated[
    Annotated[ThresholdRule, Tag("threshold")]
    | Annotated[AnomalyRule, Tag("anomaly")]
    | Annotated[PredictRule, Tag("predict")],
    Discriminator(_kind),
]
"""A rule that reads samples (what a composite's inline condition may be)."""

_INLINE = "inline"  # the placeholder name of an inline condition until its composite names it


def _inline(value: Any) -> Any:
    if isinstance(value, dict):
        if "alert" in value:
            raise ValueError(
                "an inline condition is named by its composite; to read another rule's "
                "state write {rule: Name}"
            )
        return {**value, "alert": _INLINE}
    return value


def _condition_kind(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("rule", "all", "any", "not"):
            if key in value:
                return key
        return _INLINE
    return getattr(value, "tag", _INLINE)


class RefCondition(BaseModel):
    """``{rule: HighCpu}``: holds while that rule fires for the join key."""

    model_config = ConfigDict(extra="forbid")
    tag: ClassVar[str] = "rule"
    rule: str = Field(min_length=1)


class AllCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: ClassVar[str] = "all"
    all: list[Condition] = Field(min_length=1)


class AnyCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: ClassVar[str] = "any"
    any: list[Condition] = Field(min_length=1)


class NotCondition(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    tag: ClassVar[str] = "not"
    not_: Condition = Field(alias="not")


Condition = Annotated[
    Annotated[RefCondition, Tag("rule")]
    | Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")]
    | Annotated[LeafRule, BeforeValidator(_inline), Tag(_INLINE)],
    Discriminator(_condition_kind),
]
"""One condition of a composite: a reference, a combination, or an inline rule."""


class CompositeRule(AlertFields):
    """Fire while ``all`` / ``any`` / ``not`` of the conditions hold for the same values
    of the ``join_on`` labels (``models.rules.composite``)."""

    kind: Literal["composite"]
    join_on: list[str] = []  # not ``on``: YAML 1.1 reads that key as true
    all: list[Condition] | None = Field(None, min_length=1)
    any: list[Condition] | None = Field(None, min_length=1)
    not_: Condition | None = Field(None, alias="not")
    for_: Duration = Field(0.0, alias="for")

    @field_validator("join_on")
    @classmethod
    def _join_on(cls, v: list[str]) -> list[str]:
        bad = [n for n in v if not is_valid_label_name(n)]
        if bad:
            raise ValueError(f"invalid label name {', '.join(bad)}")
        return v

    @model_validator(mode="after")
    def _expression(self) -> CompositeRule:
        given = [k for k in ("all", "any", "not_") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a composite needs exactly one of all, any, not")
        if holds(self.expression()[0], lambda _: False):
            raise ValueError(
                "the condition holds when no rule fires, so it has no series to judge: "
                "combine not with a condition that fires"
            )
        return self

    def expression(self) -> tuple[Expr, list[RuleSpec]]:
        """The expression over rule names, and the inline conditions (named
        ``<alert>#<n>`` in order of appearance)."""
        inner: list[RuleSpec] = []

        def build(c: Any) -> Expr:
            if isinstance(c, RefCondition):
                return Ref(c.rule)
            if isinstance(c, AllCondition):
                return AllOf(tuple(map(build, c.all)))
            if isinstance(c, AnyCondition):
                return AnyOf(tuple(map(build, c.any)))
            if isinstance(c, NotCondition):
                return Not(build(c.not_))
            spec = replace(c.to_spec(), alert=f"{self.alert}#{len(inner) + 1}")
            inner.append(spec)
            return Ref(spec.alert)

        if self.all is not None:
            return AllOf(tuple(map(build, self.all))), inner
        if self.any is not None:
            return AnyOf(tuple(map(build, self.any))), inner
        return Not(build(self.not_)), inner

    def to_spec(self) -> CompositeSpec:
        expr, inner = self.expression()
        return CompositeSpec(
            alert=self.alert,
            join_on=tuple(self.join_on),
            expr=expr,
            for_=self.for_,
            severity=self.severity,
            labels=dict(self.labels),
            annotations=dict(self.annotations),
            inner=tuple(inner),
        )


for _model in (AllCondition, AnyCondition, NotCondition, CompositeRule):
    _model.model_rebuild()


def check_composites(rules: list[Any], event_rules: Sequence[Any] = ()) -> list[str]:
    """Cross-references: a composite reads rules (metric or event rules) that exist and
    are not composites."""
    kinds = {r.alert: "event" for r in event_rules} | {r.alert: r.kind for r in rules}
    problems = []
    for r in rules:
        if r.kind != "composite":
            continue
        expr, inner = r.expression()
        kinds.update((spec.alert, spec.kind) for spec in inner)
        for name in dict.fromkeys(references(expr)):
            kind = kinds.get(name)
            if kind is None:
                problems.append(
                    f"rules: composite {r.alert} reads rule {name}, which is not defined"
                )
            elif kind == "composite":
                problems.append(f"rules: composite {r.alert} reads composite {name}")
    return problems


Rule = Annotated[
    Annotated[ThresholdRule, Tag("threshold")]
    | Annotated[AnomalyRule, Tag("anomaly")]
    | Annotated[PredictRule, Tag("predict")]
    | Annotated[CompositeRule, Tag("composite")],
    Discriminator(_kind),
]

__all__ = [
    "SEASONS",
    "AlertFields",
    "AnomalyRule",
    "CompositeRule",
    "LeafRule",
    "PredictRule",
    "Rule",
    "ThresholdRule",
    "check_composites",
    "parse_condition",
]
