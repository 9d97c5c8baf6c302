"""Config schema for Alertmanager's ``route``, ``inhibit_rules`` and ``time_intervals``.

Field names and validation rules follow Alertmanager's ``config/config.go``; error
texts too (``invalid label name "x" in group_by list``, ``group_interval cannot be
zero``, ``unknown time zone X``, ``bad matcher format: ...``).  Every model forbids
unknown keys.  Validators raise ``ValueError``; the top-level loader turns pydantic
errors into ``file:line: key: reason``.

Timers stay ``None`` when not written: ``models.notify.routing.build_routes`` applies
Alertmanager's defaults (30s / 5m / 4h) at the root and inheritance down the tree.

Cross-references (receivers, interval names) and root-only rules are checked by
``check_references(route, receiver_names, interval_names)``, which the top-level
schema calls once it knows the receivers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from models.durations import Duration
from models.suppression.matchers import (
    Matcher,
    MatcherError,
    compile_regex,
    is_valid_label_name,
    matchers_from_legacy,
    parse_matchers,
)
from models.suppression.timeintervals import NamedTimeIntervals, TimeInterval, TimeIntervalError


def _parse_matcher_strings(value: Any) -> list[Matcher]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("expected a list of matcher strings such as 'severity=\"critical\"'")
    out: list[Matcher] = []
    for item in value:
        if isinstance(item, Matcher):
            out.append(item)
            continue
        if not isinstance(item, str):
            raise ValueError(f"expected a matcher string, got {item!r}")
        try:
            out.extend(parse_matchers(item))
        except MatcherError as exc:
            raise ValueError(str(exc)) from None
    return out


MatcherList = Annotated[
    list[Matcher],
    BeforeValidator(_parse_matcher_strings),
    PlainSerializer(lambda ms: [str(m) for m in ms], return_type=list[str]),
]
"""``matchers:`` in YAML: a list of strings, each one or more matchers."""


def _check_label_map(value: dict[str, str], regex: bool) -> dict[str, str]:
    for k, v in value.items():
        if not is_valid_label_name(k):
            raise ValueError(f"invalid label name {k!r}".replace("'", '"'))
        if regex:
            try:
                compile_regex(v)
            except MatcherError as exc:
                raise ValueError(str(exc)) from None
    return value


def _check_label_names(names: list[str]) -> list[str]:
    for n in names:
        if not is_valid_label_name(n):
            raise ValueError(f'"{n}" is not a valid label name')
    return names


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, populate_by_name=True)


class RouteConfig(_Model):
    receiver: str | None = None
    group_by: list[str] | None = None
    continue_: bool = Field(default=False, alias="continue")
    matchers: MatcherList = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    escalation: str | None = None  # an escalation policy (app/config/escalation.py)
    notify_by: Literal["group", "incident"] = "group"  # incident: one group per incident
    routes: list[RouteConfig] = Field(default_factory=list)

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        names = [x for x in v if x != "..."]
        for n in names:
            if not is_valid_label_name(n):
                raise ValueError(f'invalid label name "{n}" in group_by list')
        if names and len(names) != len(v):
            raise ValueError(
                "cannot have wildcard group_by (`...`) and other other labels at the same time"
            )
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise ValueError(f'duplicated label "{n}" in group_by')
            seen.add(n)
        return v

    @field_validator("match")
    @classmethod
    def _match(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_label_map(v, regex=False)

    @field_validator("match_re")
    @classmethod
    def _match_re(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_label_map(v, regex=True)

    @field_validator("group_interval")
    @classmethod
    def _gi(cls, v: float | None) -> float | None:
        if v is not None and v == 0:
            raise ValueError("group_interval cannot be zero")
        return v

    @field_validator("repeat_interval")
    @classmethod
    def _ri(cls, v: float | None) -> float | None:
        if v is not None and v == 0:
            raise ValueError("repeat_interval cannot be zero")
        return v

    @property
    def group_by_all(self) -> bool:
        return self.group_by == ["..."]

    def all_matchers(self) -> list[Matcher]:
        """match + match_re + matchers, as Alertmanager's NewRoute collects them."""
        return matchers_from_legacy(self.match, self.match_re) + list(self.matchers)

    def walk(self) -> Iterable[RouteConfig]:
        yield self
        for r in self.routes:
            yield from r.walk()


class InhibitRuleConfig(_Model):
    source_matchers: MatcherList = Field(default_factory=list)
    target_matchers: MatcherList = Field(default_factory=list)
    source_match: dict[str, str] = Field(default_factory=dict)
    source_match_re: dict[str, str] = Field(default_factory=dict)
    target_match: dict[str, str] = Field(default_factory=dict)
    target_match_re: dict[str, str] = Field(default_factory=dict)
    equal: list[str] = Field(default_factory=list)

    @field_validator("source_match", "target_match")
    @classmethod
    def _m(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_label_map(v, regex=False)

    @field_validator("source_match_re", "target_match_re")
    @classmethod
    def _mre(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_label_map(v, regex=True)

    @field_validator("equal")
    @classmethod
    def _eq(cls, v: list[str]) -> list[str]:
        return _check_label_names(v)

    def sources(self) -> list[Matcher]:
        return matchers_from_legacy(self.source_match, self.source_match_re) + list(
            self.source_matchers
        )

    def targets(self) -> list[Matcher]:
        return matchers_from_legacy(self.target_match, self.target_match_re) + list(
            self.target_matchers
        )


class TimeRangeConfig(_Model):
    start_time: str = ""
    end_time: str = ""


class TimeIntervalSpec(_Model):
    """One entry of ``time_intervals[].time_intervals``."""

    times: list[TimeRangeConfig] = Field(default_factory=list)
    weekdays: list[str] = Field(default_factory=list)
    days_of_month: list[str | int] = Field(default_factory=list)
    months: list[str | int] = Field(default_factory=list)
    years: list[str | int] = Field(default_factory=list)
    location: str | None = None

    @model_validator(mode="after")
    def _check(self) -> TimeIntervalSpec:
        try:
            self.build()
        except TimeIntervalError as exc:
            raise ValueError(str(exc)) from None
        return self

    def build(self) -> TimeInterval:
        return TimeInterval.parse(self.model_dump(exclude_none=True))


class TimeIntervalsConfig(_Model):
    """``time_intervals: [{name, time_intervals: [...]}]`` (also ``mute_time_intervals``)."""

    name: str
    time_intervals: list[TimeIntervalSpec] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v:
            raise ValueError("missing name in time interval")
        return v

    def build(self) -> NamedTimeIntervals:
        return NamedTimeIntervals(self.name, tuple(t.build() for t in self.time_intervals))


def check_references(
    route: RouteConfig,
    receiver_names: Iterable[str],
    interval_names: Iterable[str],
) -> list[str]:
    """Root-route rules and cross-references, as Alertmanager's ``Config.UnmarshalYAML``.

    Returns the problems (empty when valid): the root needs a receiver and may not
    have matchers or mute/active intervals; every receiver and time interval named
    anywhere in the tree must exist."""
    receivers = set(receiver_names)
    intervals = set(interval_names)
    errors: list[str] = []
    if not route.receiver:
        errors.append("root route must specify a default receiver")
    if route.all_matchers():
        errors.append("root route must not have any matchers")
    if route.mute_time_intervals:
        errors.append("root route must not have any mute time intervals")
    if route.active_time_intervals:
        errors.append("root route must not have any active time intervals")
    for r in route.walk():
        if r.receiver and r.receiver not in receivers:
            errors.append(f'undefined receiver "{r.receiver}" used in route')
        for ti in [*r.mute_time_intervals, *r.active_time_intervals]:
            if ti not in intervals:
                errors.append(f'undefined time interval "{ti}" used in route')
    return errors


def check_interval_names(intervals: Iterable[TimeIntervalsConfig]) -> list[str]:
    """Names must be unique across ``time_intervals`` and ``mute_time_intervals``."""
    seen: set[str] = set()
    errors = []
    for ti in intervals:
        if ti.name in seen:
            errors.append(f'time interval "{ti.name}" is not unique')
        seen.add(ti.name)
    return errors


__all__ = [
    "InhibitRuleConfig",
    "MatcherList",
    "RouteConfig",
    "TimeIntervalSpec",
    "TimeIntervalsConfig",
    "TimeRangeConfig",
    "check_interval_names",
    "check_references",
]
