"""The one schema of pipelines.yaml. Everything past the loader receives these objects."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.config.access import AccessConfig
from app.config.analytics import AnalyticsConfig
from app.config.correlation import CorrelationConfig, check_notify_by
from app.config.data_protection import DataProtectionConfig, RetentionConfig
from app.config.escalation import ContactsConfig, EscalationPolicyConfig, check_escalation
from app.config.event_rules import EventRules
from app.config.oncall import OncallConfig
from app.config.outbound import OutboundConfig
from app.config.priority import PriorityConfig
from app.config.receivers import Receiver
from app.config.routing import (
    InhibitRuleConfig,
    RouteConfig,
    TimeIntervalsConfig,
    check_interval_names,
    check_references,
)
from app.config.rules import Rule, check_composites
from channels.breaker import BreakerPolicy
from channels.policy import DeliveryPolicy, RetryPolicy
from channels.rate_limit import RateLimit
from channels.registry import CHANNELS
from models.durations import Duration


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


class DeliveryConfig(BaseModel):
    """How channel senders deliver (see channels/delivery.py): retries with full-jitter
    backoff within a budget, a circuit breaker per destination, and rate limits per
    destination.  By default only destinations whose provider documents a limit are
    paced (Slack channels, PagerDuty routing keys, SMS numbers: each channel's rate_scope);
    webhooks, email and Teams are not, as in Alertmanager.  ``rate`` paces every
    other destination; ``channel_rate_limits`` sets the per-destination rate of a
    channel kind (0 lifts its provider limit); ``rate_limits`` caps a receiver
    (by name or tenant/name), per destination."""

    model_config = ConfigDict(extra="forbid")

    retry_initial: Duration = 0.5
    retry_factor: float = Field(default=2.0, ge=1.0)
    retry_max_delay: Duration = 60.0
    retry_budget: Duration = 300.0
    max_attempts: int = Field(default=0, ge=0, description="0: only the budget limits")
    rate: float = Field(
        default=0.0, ge=0.0, description="notifications/s per other destination, 0: unlimited"
    )
    burst: float = Field(default=10.0, ge=1.0)
    rate_limits: dict[str, Annotated[float, Field(ge=0.0)]] = {}
    channel_rate_limits: dict[str, Annotated[float, Field(ge=0.0)]] = {}
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cooldown: Duration = 30.0

    @field_validator("channel_rate_limits")
    @classmethod
    def _known_kinds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(CHANNELS))
        if unknown:
            raise ValueError(
                f"unknown channel kind {', '.join(unknown)} (known: {', '.join(sorted(CHANNELS))})"
            )
        return value

    def _limit(self, rate: float) -> RateLimit:
        return RateLimit(rate=rate, burst=max(self.burst, rate))

    def policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(
            retry=RetryPolicy(
                initial=self.retry_initial,
                factor=self.retry_factor,
                max_delay=self.retry_max_delay,
                budget=self.retry_budget,
                max_attempts=self.max_attempts,
            ),
            breaker=BreakerPolicy(threshold=self.breaker_threshold, cooldown=self.breaker_cooldown),
            rate_limit=RateLimit(rate=self.rate, burst=self.burst),
            receiver_rate_limits={k: self._limit(v) for k, v in self.rate_limits.items()},
            channel_rate_limits={k: self._limit(v) for k, v in self.channel_rate_limits.items()},
        )


class PipelinesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = []
    event_rules: EventRules = []  # over the `events` topic (app/config/event_rules.py)
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
    delivery: DeliveryConfig = DeliveryConfig()
    ack_default_duration: Duration = 24 * 3600.0  # an ack without `until` lasts this long
    tenant_files: dict[str, str] = {}  # tenant -> its own config file (app/config/tenants.py)
    correlation: CorrelationConfig | None = None  # incidents (app/config/correlation.py)
    escalation_policies: list[EscalationPolicyConfig] = []
    escalation_contacts: ContactsConfig = ContactsConfig()  # how users are paged
    # people, teams, schedules (app/config/oncall.py)
    oncall: OncallConfig = Field(default_factory=OncallConfig)
    priority: PriorityConfig | None = None  # P1-P5 label on every alert (app/config/priority.py)
    analytics: AnalyticsConfig | None = None  # windows, SLA (app/config/analytics.py)
    access: AccessConfig = AccessConfig()  # who may call the HTTP API (app/config/access.py)
    outbound: OutboundConfig = OutboundConfig()  # where notifications may go (SSRF)
    retention: RetentionConfig = RetentionConfig()  # app/config/data_protection.py
    data_protection: DataProtectionConfig = DataProtectionConfig()  # personal labels

    @model_validator(mode="after")
    def _references(self) -> PipelinesConfig:
        names = [r.name for r in self.receivers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"receivers: duplicate name {', '.join(dupes)}")
        problems = check_interval_names(self.time_intervals) + check_references(
            self.route, set(names), {t.name for t in self.time_intervals}
        )
        problems += check_composites(self.rules, self.event_rules)
        problems += check_escalation(
            self.escalation_policies,
            self.route,
            set(names),
            {t.name for t in self.time_intervals},
            self.oncall,
        )
        problems += check_notify_by(self.route, self.correlation)
        if problems:
            raise ValueError("; ".join(problems))
        self.receivers += self.escalation_contacts.receivers(self.oncall, set(names))
        return self

    def receiver(self, name: str) -> Receiver:
        return next(r for r in self.receivers if r.name == name)
