"""The ``analytics:`` section: business hours, SLA targets, the flap window.

    analytics:
      flap_window: 1h            # a refire this soon after a resolve is a flap
      retention: 100d            # day windows and finished episodes kept this long
      business_hours:            # the most specific entry wins: team, tenant, everyone
        - time_intervals:        # Alertmanager time intervals (location: a time zone)
            - weekdays: [monday:friday]
              times: [{start_time: "09:00", end_time: "17:00"}]
              location: Europe/Berlin
        - {tenant: acme, team: dba, time_intervals: [...]}
      sla:
        - name: critical
          severity: critical     # tenant, team, severity: any when left out
          acknowledge_within: 15m
          resolve_within: 4h

A team of ``oncall.teams`` with no business hours of its own works when its members do
(their ``working_hours``), so interruptions of that team are counted against them.
Without the section analytics is off (no agent reads the ``history`` topic).

A tenant's own config (its file under ``tenant_files:`` or a version on the ``config``
topic) may have an ``analytics:`` section with its ``sla`` targets and its
``business_hours``: each replaces, for that tenant, what ``pipelines.yaml`` says (the
other keys are worker-wide). ``TenantSpecs`` keeps each tenant's spec, swapped when its
config changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.config.oncall import OncallConfig
from app.config.routing import TimeIntervalSpec
from models.analytics.recommend import Thresholds
from models.analytics.spec import DEFAULT_HOURS, AnalyticsSpec, BusinessHours, SlaTarget
from models.durations import Duration

if TYPE_CHECKING:
    from app.config.schema import PipelinesConfig

TENANT_OWN = ("sla", "business_hours")
"""What a tenant's own ``analytics:`` may set (the rest is worker-wide)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BusinessHoursConfig(_Model):
    tenant: str | None = None
    team: str | None = None
    time_intervals: list[TimeIntervalSpec] = Field(min_length=1)

    def build(self) -> BusinessHours:
        return BusinessHours(tuple(t.build() for t in self.time_intervals), self.tenant, self.team)


class SlaTargetConfig(_Model):
    name: str = Field(min_length=1)
    tenant: str | None = None
    team: str | None = None
    severity: str | None = None
    acknowledge_within: Duration | None = None
    resolve_within: Duration | None = None

    @model_validator(mode="after")
    def _some(self) -> SlaTargetConfig:
        if self.acknowledge_within is None and self.resolve_within is None:
            raise ValueError(f"sla {self.name}: acknowledge_within or resolve_within required")
        return self

    def build(self) -> SlaTarget:
        return SlaTarget(
            self.name,
            self.tenant,
            self.team,
            self.severity,
            self.acknowledge_within,
            self.resolve_within,
        )


class RecommendationsConfig(_Model):
    min_fired: int = Field(default=10, ge=1)
    min_flaps: int = Field(default=3, ge=1)
    target: float = Field(default=0.9, gt=0, le=1)
    together_within: Duration = 60.0
    min_together: int = Field(default=5, ge=1)
    band_actionability: float = Field(default=0.2, ge=0, le=1)


class AnalyticsConfig(_Model):
    flap_window: Duration = 3600.0
    retention: Duration = 100 * 86400.0
    hourly_retention: Duration = 14 * 86400.0
    business_hours: list[BusinessHoursConfig] = []
    sla: list[SlaTargetConfig] = []
    recommendations: RecommendationsConfig = RecommendationsConfig()

    @model_validator(mode="after")
    def _names(self) -> AnalyticsConfig:
        names = [t.name for t in self.sla]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sla: duplicate name {', '.join(dupes)}")
        return self

    def build(self, oncall: OncallConfig) -> AnalyticsSpec:
        hours = [b.build() for b in self.business_hours]
        given = {b.team for b in hours if b.team is not None}
        directory = oncall.directory
        for team in directory.teams.values():
            members = [directory.users[m] for m in team.members if m in directory.users]
            worked = tuple(w for u in members for w in u.working_hours)
            if team.name not in given and worked:
                hours.append(BusinessHours(worked, team=team.name))
        return AnalyticsSpec(
            flap_window=self.flap_window,
            retention=self.retention,
            hourly_retention=self.hourly_retention,
            business_hours=tuple(hours),
            sla=tuple(t.build() for t in self.sla),
            default_hours=DEFAULT_HOURS,
        )

    def thresholds(self) -> Thresholds:
        r = self.recommendations
        return Thresholds(
            min_fired=r.min_fired,
            min_flaps=r.min_flaps,
            flap_window=self.flap_window,
            target=r.target,
            together_within=r.together_within,
            min_together=r.min_together,
            band_actionability=r.band_actionability,
        )


def tenant_errors(own: AnalyticsConfig | None, text: str, fname: str) -> list[str]:
    """What a tenant's own ``analytics:`` may not say, with file, line and key: the
    worker-wide keys, and a ``tenant:`` (its targets and hours are its own)."""
    if own is None:
        return []
    errors = [
        f"{fname}:{_line(text, ('analytics', k))}: analytics.{k}: worker-wide, set in"
        f" pipelines.yaml (a tenant's analytics holds {' and '.join(TENANT_OWN)})"
        for k in sorted(own.model_fields_set - set(TENANT_OWN))
    ]
    for key, entries in (("sla", own.sla), ("business_hours", own.business_hours)):
        for i, e in enumerate(entries):
            if e.tenant is not None:
                errors.append(
                    f"{fname}:{_line(text, ('analytics', key, i, 'tenant'))}:"
                    f" analytics.{key}[{i}].tenant: not allowed in a tenant's config"
                    " (its targets and hours are its own)"
                )
    return errors


def _line(text: str, path: tuple[str | int, ...]) -> int:
    """The line of a key in YAML text (1 if it cannot be found)."""
    node = yaml.compose(text)
    line = 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if k.value == part]
            if not found:
                return line
            key, node = found[0]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


class TenantSpecs:
    """Each tenant's analytics spec: ``pipelines.yaml``'s, with the tenant's own SLA
    targets and business hours where its config has them. A ``TenantConfigs``
    listener (``swap``), so a tenant's change applies from its next record."""

    def __init__(self, base: PipelinesConfig) -> None:
        assert base.analytics is not None
        self.base = base
        self.default = base.analytics.build(base.oncall)
        self.own: dict[str, AnalyticsSpec] = {}

    def spec_for(self, tenant: str) -> AnalyticsSpec:
        return self.own.get(tenant, self.default)

    def swap(self, tenant: str | None, config: PipelinesConfig, now: float) -> None:
        if tenant is None:  # pipelines.yaml reloaded: its targets and hours
            if config.analytics is not None:
                self.base = config
                self.default = config.analytics.build(config.oncall)
            return
        own = config.analytics
        if own is None or not (own.model_fields_set & set(TENANT_OWN)):
            self.own.pop(tenant, None)
            return
        assert self.base.analytics is not None
        mine = {
            k: [e.model_copy(update={"tenant": tenant}) for e in getattr(own, k)]
            for k in TENANT_OWN
            if k in own.model_fields_set
        }
        merged = self.base.analytics.model_copy(update=mine)
        self.own[tenant] = merged.build(self.base.oncall)
