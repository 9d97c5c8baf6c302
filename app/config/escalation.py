"""The ``escalation_policies:`` section, and ``escalation:`` on routes.

    escalation_policies:
      - name: db
        repeat: 1                      # run the steps twice in all
        sla: {acknowledge: 15m, resolve: 4h}
        steps:
          - notify: {receivers: [db-pager]}
            wait: 5m
          - notify: {schedule: db-primary}
            wait: 10m
            active_time_intervals: [business-hours]
          - notify: {team: dba, pick: least_loaded, skills: ["{{ .Labels.component }}"]}
            if: not_resolved
          - notify: {team: dba, working_hours: true}   # whoever is at work now
          - wait: 30m                   # a step may only wait

Each step names one target (``receivers``, ``users``, ``schedule`` or ``team``), how to
pick from it (``all``, ``round_robin``, ``least_loaded``) and optionally the skills the
alert asks for (templates over its labels). Cross-references (receivers, time
intervals, policies named by routes) are checked by ``check_escalation`` once the
whole file is read; people, teams and schedules by the on-call directory.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.config.oncall import OncallConfig, check_oncall_names
from app.config.receivers import Receiver
from app.config.routing import RouteConfig
from channels.templating import check_template
from models.durations import Duration
from models.escalation.policy import NOT_ACKNOWLEDGED, NOT_RESOLVED, Policy, Step, Target
from models.escalation.targets import ALL, PICKS

USER_RECEIVER = "user:{}"  # the receiver a user's contact methods become
_GO_FIELD = re.compile(r"\{\{\s*\.")


def skill_template(source: str) -> str:
    """Alertmanager writes ``{{ .Labels.component }}``; our templates are Jinja2, which
    reads the same value as ``{{ Labels.component }}``: drop the leading dot."""
    return _GO_FIELD.sub("{{ ", source)


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receivers: list[str] = []
    users: list[str] = []
    schedule: str | None = None
    team: str | None = None
    pick: str = ALL
    skills: list[str] = []
    working_hours: bool = False  # only people within their working hours, if any are

    @model_validator(mode="after")
    def _one_target(self) -> NotifyConfig:
        given = [k for k in ("receivers", "users", "schedule", "team") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "notify: name exactly one of receivers, users, schedule, team"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @field_validator("pick")
    @classmethod
    def _pick(cls, value: str) -> str:
        if value not in PICKS:
            raise ValueError(f"pick: one of {', '.join(PICKS)}")
        return value

    @field_validator("skills")
    @classmethod
    def _skills(cls, value: list[str]) -> list[str]:
        out = [skill_template(s) for s in value]
        for s in out:
            check_template(s)
        return out

    def build(self) -> Target:
        if self.schedule or self.team:
            kind = "schedule" if self.schedule else "team"
            names = (self.schedule or self.team or "",)
        else:
            kind = "receivers" if self.receivers else "users"
            names = tuple(self.receivers or self.users)
        return Target(kind, names, self.pick, tuple(self.skills), self.working_hours)


class StepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    notify: NotifyConfig | None = None
    wait: Duration = 0.0
    if_: str = Field(default=NOT_ACKNOWLEDGED, alias="if")
    active_time_intervals: list[str] = []
    mute_time_intervals: list[str] = []

    @field_validator("if_")
    @classmethod
    def _when(cls, value: str) -> str:
        if value not in (NOT_ACKNOWLEDGED, NOT_RESOLVED):
            raise ValueError(f"if: one of {NOT_ACKNOWLEDGED}, {NOT_RESOLVED}")
        return value

    def build(self) -> Step:
        return Step(
            self.notify.build() if self.notify else None,
            self.wait,
            self.if_,
            tuple(self.active_time_intervals),
            tuple(self.mute_time_intervals),
        )


class SlaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    acknowledge: Duration | None = None
    resolve: Duration | None = None


class EscalationPolicyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    steps: list[StepConfig] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=10)
    sla: SlaConfig = SlaConfig()

    def build(self) -> Policy:
        return Policy(
            self.name,
            tuple(s.build() for s in self.steps),
            self.repeat,
            self.sla.acknowledge,
            self.sla.resolve,
        )


class ContactsConfig(BaseModel):
    """How people are paged: an integration per contact method, written as the
    receiver entry it becomes without the address. Each user of ``oncall.users`` gets a
    receiver ``user:NAME`` with an email integration if they have an email address, SMS
    (Twilio) if a phone number, Slack if a Slack user id (a direct message)."""

    model_config = ConfigDict(extra="forbid")

    email: dict[str, Any] | None = None  # an email_configs entry without `to`
    sms: dict[str, Any] | None = None  # a twilio_configs entry without `to`
    slack: dict[str, Any] | None = None  # a slack_configs entry without `channel`

    @model_validator(mode="after")
    def _check(self) -> ContactsConfig:
        self.receiver("check", "a@example.com", "+15555550100", "U0")
        return self

    def receiver(self, user: str, email: str, phone: str, slack_id: str) -> Receiver:
        return Receiver(
            name=USER_RECEIVER.format(user),
            email_configs=[{**self.email, "to": email}] if self.email and email else [],
            twilio_configs=[{**self.sms, "to": phone}] if self.sms and phone else [],
            slack_configs=[{**self.slack, "channel": slack_id}] if self.slack and slack_id else [],
        )

    def receivers(self, oncall: OncallConfig, taken: set[str]) -> list[Receiver]:
        """A receiver per user (those whose name is not already a receiver)."""
        out = []
        for u in oncall.users:
            r = self.receiver(u.name, u.email, u.phone, u.slack_id)
            if r.name not in taken:
                out.append(r)
        return out


def check_escalation(
    policies: list[EscalationPolicyConfig],
    route: RouteConfig,
    receivers: set[str],
    intervals: set[str],
    oncall: OncallConfig | None = None,
) -> list[str]:
    """Cross-references: unique policy names; every policy a route names exists; every
    receiver and time interval a step names exists; and (given ``oncall``) every user,
    team and schedule."""
    errors: list[str] = []
    if oncall is not None:
        named: dict[str, list[str]] = {"users": [], "team": [], "schedule": []}
        for p in policies:
            for s in p.steps:
                if s.notify:
                    named["users"] += s.notify.users
                    named["team"] += [s.notify.team] if s.notify.team else []
                    named["schedule"] += [s.notify.schedule] if s.notify.schedule else []
        if any(named.values()):
            found = check_oncall_names(oncall, named["users"], named["team"], named["schedule"])
            errors += [f"escalation_policies: {e}" for e in found]
    names = [p.name for p in policies]
    for dupe in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f'escalation policy "{dupe}" is not unique')
    for r in route.walk():
        if r.escalation and r.escalation not in names:
            errors.append(f'undefined escalation policy "{r.escalation}" used in route')
    for p in policies:
        for i, s in enumerate(p.steps):
            for name in s.notify.receivers if s.notify else []:
                if name not in receivers:
                    errors.append(
                        f'escalation policy "{p.name}" step {i + 1}: undefined receiver "{name}"'
                    )
            for ti in [*s.active_time_intervals, *s.mute_time_intervals]:
                if ti not in intervals:
                    errors.append(
                        f'escalation policy "{p.name}" step {i + 1}: undefined time interval "{ti}"'
                    )
    return errors


def route_policies(route: RouteConfig) -> dict[str, str]:
    """Route key (as ``models.notify.routing.Route`` builds it) -> policy name, each route
    inheriting its parent's policy unless it names its own."""
    from models.notify.routing import Route

    out: dict[str, str] = {}

    def walk(cfg: RouteConfig, node: Route, inherited: str) -> None:
        policy = cfg.escalation or inherited
        if policy:
            out[node.id] = policy
        for child_cfg, child in zip(cfg.routes, node.routes, strict=True):
            walk(child_cfg, child, policy)

    walk(route, Route.from_config(route), "")
    return out


__all__ = [
    "USER_RECEIVER",
    "ContactsConfig",
    "EscalationPolicyConfig",
    "NotifyConfig",
    "SlaConfig",
    "StepConfig",
    "check_escalation",
    "route_policies",
    "skill_template",
]
