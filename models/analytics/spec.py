"""What analytics is told by the config: business hours, SLA targets, the flap window.

Built by ``app/config/analytics.py``; pure records so the models and their tests need
no config loader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from models.suppression.timeintervals import TimeInterval

# Monday to Friday, 09:00-17:00 UTC: what "business hours" are where none are configured
DEFAULT_HOURS = (
    TimeInterval.parse(
        {"weekdays": ["monday:friday"], "times": [{"start_time": "09:00", "end_time": "17:00"}]}
    ),
)


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Working time of a tenant, or of one team (``team`` set), or of everyone."""

    intervals: tuple[TimeInterval, ...]
    tenant: str | None = None
    team: str | None = None

    def applies(self, tenant: str, team: str) -> bool:
        return self.tenant in (None, tenant) and self.team in (None, team)

    @property
    def specificity(self) -> int:
        return (self.team is not None) * 2 + (self.tenant is not None)


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """Acknowledge within / resolve within, for the alerts of a tenant, team and
    severity (``None``: any)."""

    name: str
    tenant: str | None = None
    team: str | None = None
    severity: str | None = None
    acknowledge_within: float | None = None
    resolve_within: float | None = None

    def matches(self, team: str, severity: str) -> bool:
        """Does an alert of this team and severity count (the tenant is chosen first)."""
        return self.team in (None, team) and self.severity in (None, severity)


@dataclass(frozen=True, slots=True)
class AnalyticsSpec:
    flap_window: float = 3600.0  # a refire this soon after a resolve is a flap
    retention: float = 100 * 86400.0  # windows and episodes kept this long
    hourly_retention: float = 14 * 86400.0  # hour windows kept this long
    business_hours: Sequence[BusinessHours] = ()
    sla: Sequence[SlaTarget] = ()
    default_hours: tuple[TimeInterval, ...] = field(default=DEFAULT_HOURS)

    def in_business_hours(self, tenant: str, team: str, at: float) -> bool:
        """The most specific matching entry decides (team over tenant over everyone)."""
        found = [b for b in self.business_hours if b.applies(tenant, team)]
        hours = max(found, key=lambda b: b.specificity).intervals if found else self.default_hours
        return any(i.contains(at) for i in hours)
