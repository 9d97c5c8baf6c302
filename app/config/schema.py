"""The one schema of pipelines.yaml. Everything past the loader receives these objects."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

from app.config.receivers import Receiver
from app.config.routing import (
    InhibitRuleConfig,
    RouteConfig,
    TimeIntervalsConfig,
    check_interval_names,
    check_references,
)
from app.config.rules import ThresholdRule


class PipelinesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[ThresholdRule] = []
    route: RouteConfig
    receivers: list[Receiver]
    inhibit_rules: list[InhibitRuleConfig] = []
    time_intervals: list[TimeIntervalsConfig] = []

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
