"""The ``oncall:`` section: people, teams and schedules.

    oncall:
      users:
        - name: alice
          email: alice@example.com
          phone: "+4915112345678"          # SMS (E.164)
          slack_id: U024BE7LH
          time_zone: Europe/Berlin
          working_hours:                   # Alertmanager time intervals, in time_zone
            - weekdays: [monday:friday]
              times: [{start_time: "09:00", end_time: "17:00"}]
          skills: [postgres, kafka]
      teams:
        - name: dba
          members: [alice, bob]
      schedules:
        - name: db-primary
          time_zone: Europe/Berlin
          layers:
            - name: weekly
              start: 2026-01-05T09:00:00   # wall-clock time in the time zone
              handoff: weekly              # or an RRULE: FREQ=DAILY;BYHOUR=9,21
              users: [alice, bob, [carol, dave]]
            - name: business-hours
              start: 2026-01-05T09:00:00
              handoff: FREQ=WEEKLY
              active: FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR
              duration: 8h
              users: [erin]
          overrides:
            - {user: bob, start: 2026-03-02T09:00:00, end: 2026-03-03T09:00:00}

One section rather than three top-level keys: people, teams and schedules refer to one
another and are checked together here, and escalation policies
(``app/config/escalation.py``) refer to all three through ``check_oncall_names``.
A layer's ``priority`` defaults to its position: a later layer wins where it has
someone. See docs/oncall.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cached_property
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from app.config.routing import TimeIntervalSpec
from models.durations import Duration
from models.oncall.directory import Directory, Team, User
from models.oncall.schedule import Layer, Override, Schedule, local_naive, parse_rule
from models.suppression.timeintervals import TimeInterval


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value}") from None
    return value


TimeZone = Annotated[str, AfterValidator(_zone)]
"""An IANA time zone name (zoneinfo)."""


class UserConfig(_Model):
    name: str = Field(min_length=1)
    email: str = ""
    phone: str = ""
    slack_id: str = ""
    time_zone: TimeZone = "UTC"
    working_hours: list[TimeIntervalSpec] = []
    skills: list[str] = []

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if value and not (value.startswith("+") and value[1:].isdigit() and len(value) > 7):
            raise ValueError(f"{value!r} is not a phone number in E.164 form (+4915112345678)")
        return value

    def build(self) -> User:
        hours = tuple(
            TimeInterval.parse(
                {**w.model_dump(exclude_none=True), "location": w.location or self.time_zone}
            )
            for w in self.working_hours
        )
        return User(
            self.name,
            self.email,
            self.phone,
            self.slack_id,
            self.time_zone,
            hours,
            tuple(self.skills),
        )


class TeamConfig(_Model):
    name: str = Field(min_length=1)
    members: list[str] = []


class LayerConfig(_Model):
    name: str = ""
    start: datetime
    handoff: str = "weekly"
    users: list[str | list[str]] = Field(min_length=1)
    priority: int | None = None
    active: str | None = None
    duration: Duration | None = None
    end: datetime | None = None
    time_zone: TimeZone | None = None

    @field_validator("handoff", "active")
    @classmethod
    def _rule(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rule(value, datetime(2000, 1, 1))
        return value

    @model_validator(mode="after")
    def _shape(self) -> LayerConfig:
        if self.active and not self.duration:
            raise ValueError("`active` needs a `duration` (how long each active window lasts)")
        if any(isinstance(u, list) and not u for u in self.users):
            raise ValueError("users: an empty group")
        return self

    def build(self, index: int, schedule_tz: str) -> Layer:
        zone = ZoneInfo(self.time_zone or schedule_tz)
        return Layer(
            self.name or f"layer-{index + 1}",
            tuple((u,) if isinstance(u, str) else tuple(u) for u in self.users),
            local_naive(self.start, zone),
            self.handoff,
            index if self.priority is None else self.priority,
            self.active,
            timedelta(seconds=self.duration) if self.duration else None,
            local_naive(self.end, zone) if self.end else None,
            self.time_zone or "",
        )

    def names(self) -> list[str]:
        return [n for u in self.users for n in ([u] if isinstance(u, str) else u)]


class OverrideConfig(_Model):
    """``user`` (or ``users``, together) covers [start, end); a later override wins."""

    user: str | None = None
    users: list[str] = []
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _shape(self) -> OverrideConfig:
        if bool(self.user) == bool(self.users):
            raise ValueError("name either `user` or `users`")
        return self

    def names(self) -> list[str]:
        return [self.user] if self.user else list(self.users)

    def build(self) -> Override:
        return Override(tuple(self.names()), self.start, self.end)


class ScheduleConfig(_Model):
    name: str = Field(min_length=1)
    time_zone: TimeZone = "UTC"
    layers: list[LayerConfig] = Field(min_length=1)
    overrides: list[OverrideConfig] = []

    def build(self) -> Schedule:
        return Schedule(
            self.name,
            self.time_zone,
            [layer.build(i, self.time_zone) for i, layer in enumerate(self.layers)],
            [o.build() for o in self.overrides],
        )


def _dupes(kind: str, names: list[str]) -> list[str]:
    return [f'{kind} "{n}" is not unique' for n in sorted({n for n in names if names.count(n) > 1})]


class OncallConfig(_Model):
    users: list[UserConfig] = []
    teams: list[TeamConfig] = []
    schedules: list[ScheduleConfig] = []

    @model_validator(mode="after")
    def _references(self) -> OncallConfig:
        users = {u.name for u in self.users}
        problems = (
            _dupes("user", [u.name for u in self.users])
            + _dupes("team", [t.name for t in self.teams])
            + _dupes("schedule", [s.name for s in self.schedules])
        )
        for i, t in enumerate(self.teams):
            problems += [
                f'teams[{i}] "{t.name}": unknown user "{m}"' for m in t.members if m not in users
            ]
        for i, s in enumerate(self.schedules):
            for j, layer in enumerate(s.layers):
                problems += [
                    f'schedules[{i}].layers[{j}]: unknown user "{n}"'
                    for n in layer.names()
                    if n not in users
                ]
            for j, o in enumerate(s.overrides):
                problems += [
                    f'schedules[{i}].overrides[{j}]: unknown user "{n}"'
                    for n in o.names()
                    if n not in users
                ]
        if problems:
            raise ValueError("; ".join(problems))
        try:
            self.directory  # noqa: B018  (builds the schedules: their own checks)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return self

    @cached_property
    def directory(self) -> Directory:
        """People, teams and schedules by name, built once from this section."""
        return Directory(
            [u.build() for u in self.users],
            [Team(t.name, tuple(t.members)) for t in self.teams],
            [s.build() for s in self.schedules],
        )


def check_oncall_names(
    oncall: OncallConfig, users: list[str], teams: list[str], schedules: list[str]
) -> list[str]:
    """What another section names that the ``oncall:`` section does not define."""
    d = oncall.directory
    return (
        [f'undefined user "{n}"' for n in users if n not in d.users]
        + [f'undefined team "{n}"' for n in teams if n not in d.teams]
        + [f'undefined schedule "{n}"' for n in schedules if n not in d.schedules]
    )
