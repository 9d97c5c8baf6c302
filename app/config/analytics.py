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
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.config.oncall import OncallConfig
from app.config.routing import TimeIntervalSpec
from models.analytics.recommend import Thresholds
from models.analytics.spec import DEFAULT_HOURS, AnalyticsSpec, BusinessHours, SlaTarget
from models.durations import Duration


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
        )
