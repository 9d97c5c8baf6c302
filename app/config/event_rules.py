"""Event rule definitions: what `event_rules:` in pipelines.yaml may say.

Three kinds over the `events` topic, each judged per key (``group_by``: labels, or
``fields.<path>``) within a tenant:

* ``count``: ``condition: ">= 5"`` matching events (or ``distinct:`` values) in a
  ``window`` (sliding by default, ``sliding: false`` for tumbling);
* ``sequence``: ``steps`` in order for one key ``within`` a duration;
* ``absence``: no matching event for a key ``for`` a duration.

A ``match`` (each step of a sequence is one) names event ``type``(s), Alertmanager
``matchers`` over the event's labels, and ``fields`` conditions
(``{bytes: {gt: 1000000}, country: {in: [us, ca]}}``).  ``to_spec()`` builds the
plain values ``models.rules.events`` runs on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, field_validator

from app.config.routing import MatcherList
from app.config.rules import AlertFields, parse_condition
from models.durations import Duration
from models.rules.event_match import FIELD_OPS, FIELD_PREFIX, EventMatch, FieldCondition
from models.rules.events import AbsenceSpec, CountSpec, SequenceSpec
from models.suppression.matchers import is_valid_label_name


class EventMatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    type: str | list[str] | None = None
    matchers: MatcherList = Field(default_factory=list)
    fields: dict[str, dict[str, Any]] = {}

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        problems = []
        for name, ops in v.items():
            if not ops:
                problems.append(f"{name}: give at least one of {', '.join(FIELD_OPS)}")
            for op, value in ops.items():
                try:
                    FieldCondition(name, op, value)
                except ValueError as exc:
                    problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        return v

    def to_match(self) -> EventMatch:
        types = [self.type] if isinstance(self.type, str) else self.type or []
        return EventMatch(
            types=frozenset(types),
            matchers=tuple(self.matchers),
            conditions=tuple(
                FieldCondition(name, op, value)
                for name, ops in self.fields.items()
                for op, value in ops.items()
            ),
        )


def _check_key_name(name: str) -> str:
    """A label name, or ``fields.<path>``."""
    ok = (
        len(name) > len(FIELD_PREFIX)
        if name.startswith(FIELD_PREFIX)
        else is_valid_label_name(name)
    )
    if not ok:
        raise ValueError(f"{name!r} is neither a label name nor fields.<path>")
    return name


def _positive(v: float) -> float:
    if v <= 0:
        raise ValueError("must be longer than 0s")
    return v


Positive = Annotated[Duration, AfterValidator(_positive)]
"""A duration longer than 0s: windows, ``within``, ``for``."""


class _EventRuleBase(AlertFields):
    group_by: list[str] = []

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, v: list[str]) -> list[str]:
        return [_check_key_name(n) for n in v]

    def _common(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "severity": self.severity,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "group_by": tuple(self.group_by),
        }


class CountEventRule(_EventRuleBase):
    """``condition`` (``>= 5``, ``> 10``) matching events per key in ``window``."""

    kind: Literal["count"]
    match: EventMatchConfig
    window: Positive
    sliding: bool = True
    condition: str
    distinct: str | None = None

    @field_validator("condition")
    @classmethod
    def _condition(cls, v: str) -> str:
        op, _ = parse_condition(v)
        if op not in (">", ">="):
            raise ValueError(
                f"{v!r}: a count rule fires on many events ('>= 5', '> 10'); "
                "for too few use kind: absence"
            )
        return v

    @field_validator("distinct")
    @classmethod
    def _distinct(cls, v: str | None) -> str | None:
        return None if v is None else _check_key_name(v)

    def to_spec(self) -> CountSpec:
        op, threshold = parse_condition(self.condition)
        return CountSpec(
            **self._common(),
            match=self.match.to_match(),
            window=self.window,
            sliding=self.sliding,
            op=op,  # type: ignore[arg-type]
            threshold=threshold,
            distinct=self.distinct,
        )


class SequenceEventRule(_EventRuleBase):
    """``steps`` (two or more matches) in order for one key ``within`` a duration."""

    kind: Literal["sequence"]
    steps: list[EventMatchConfig] = Field(min_length=2)
    within: Positive
    resolve_after: Duration | None = None  # default: within

    def to_spec(self) -> SequenceSpec:
        return SequenceSpec(
            **self._common(),
            steps=tuple(s.to_match() for s in self.steps),
            within=self.within,
            resolve_after=self.within if self.resolve_after is None else self.resolve_after,
        )


class AbsenceEventRule(_EventRuleBase):
    """No matching event for a key ``for`` a duration (a dead man's switch)."""

    kind: Literal["absence"]
    match: EventMatchConfig
    for_: Positive = Field(alias="for")

    def to_spec(self) -> AbsenceSpec:
        return AbsenceSpec(**self._common(), match=self.match.to_match(), for_=self.for_)


EventRule = Annotated[CountEventRule | SequenceEventRule | AbsenceEventRule, Discriminator("kind")]


def _unique(rules: list[Any]) -> list[Any]:
    """An event rule's state is kept by its alert name: two rules cannot share one."""
    names = [r.alert for r in rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate event rule alert {', '.join(dupes)}")
    return rules


EventRules = Annotated[list[EventRule], AfterValidator(_unique)]
"""``event_rules:`` in pipelines.yaml."""
