"""The one schema of pipelines.yaml. Everything past the loader receives these objects."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.config.receivers import Receiver
from app.config.routing import (
    InhibitRuleConfig,
    RouteConfig,
    TimeIntervalsConfig,
    check_interval_names,
    check_references,
)
from app.config.rules import Rule
from app.config.types import Duration


class FlappingConfig(BaseModel):
    """An alert changing state more than ``threshold`` times within ``window`` is
    notified once as flapping, then held until it has been stable ``stable_for``."""

    model_config = ConfigDict(extra="forbid")

    threshold: int = Field(default=4, ge=1)
    window: Duration = 600.0
    stable_for: Duration = 900.0


class LimitsConfig(BaseModel):
    """Per-tenant caps (0 = none); the excess is counted, reported and sent to `dlq`."""

    model_config = ConfigDict(extra="forbid")

    max_active_alerts: int = Field(default=0, ge=0)
    max_notifications_per_minute: int = Field(default=0, ge=0)


class SilencesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retention: Duration = 120 * 3600.0  # expired silences kept this long, then GC'd


class PipelinesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = []
    route: RouteConfig
    receivers: list[Receiver]
    inhibit_rules: list[InhibitRuleConfig] = []
    time_intervals: list[TimeIntervalsConfig] = []
    # additions to Alertmanager (all off by default)
    send_resolved_for_muted: bool = False  # resolved for alerts muted after notified firing
    send_resolved_immediately: bool = False  # an all-resolved group skips group_interval
    flapping: FlappingConfig | None = None
    limits: LimitsConfig = LimitsConfig()
    silences: SilencesConfig = SilencesConfig()
    ack_default_duration: Duration = 24 * 3600.0  # an ack without `until` lasts this long

    @model_validator(mode="after")
    def _references(self) -> PipelinesConfig:
        names = [r.name for r in self.receivers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"receivers: duplicate name {', '.join(dupes)}")
        problems = check_interval_names(self.time_intervals) + check_references(
            self.route, set(names), {t.name for t in self.time_intervals}
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def receiver(self, name: str) -> Receiver:
        return next(r for r in self.receivers if r.name == name)
