"""The alert record: what travels on the `alerts` topic and through the pipeline.

Field names follow the issue's wire format (snake_case); the HTTP API v2 and the
webhook payload translate them to Alertmanager's camelCase at the edge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from models.alerting.fingerprint import fingerprint
from models.wire import WireError, format_time, parse_time, string_map


class AlertSeverity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


FIRING = "firing"
RESOLVED = "resolved"
DEFAULT_TENANT = "default"


@dataclass(slots=True)
class Alert:
    """One alert instance. ``labels`` identify it (and always carry ``alertname`` and
    ``tenant``); ``annotations`` describe it. ``ends_at`` 0 means "until resolved"."""

    tenant: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    status: str = FIRING
    starts_at: float = 0.0
    ends_at: float = 0.0
    source: str = ""
    generator_url: str = ""
    fingerprint: str = ""
    # the last webhook form and what it was made from: a group's alerts are rendered at
    # every flush, and most have not changed since the last one
    _webhook: tuple[Any, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = fingerprint(self.labels)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    def resolved_at(self, now: float) -> bool:
        """Alertmanager's rule: resolved once ends_at lies in the past."""
        return self.status == RESOLVED or (0 < self.ends_at <= now)

    @classmethod
    def from_wire(cls, obj: Any, tenant: str | None = None, now: float | None = None) -> Alert:
        """Validate one wire object; raises WireError with the reason."""
        if not isinstance(obj, dict):
            raise WireError("alert: expected a JSON object")
        now = time.time() if now is None else now
        labels = string_map(obj.get("labels"), "labels")
        tenant = str(obj.get("tenant") or labels.get("tenant") or tenant or DEFAULT_TENANT)
        if not labels.get("alertname"):
            name = obj.get("name") or obj.get("alertname")
            if not name:
                raise WireError("labels.alertname: required")
            labels["alertname"] = str(name)
        severity = obj.get("severity")
        if severity and "severity" not in labels:
            labels["severity"] = str(severity)
        labels["tenant"] = tenant
        status = obj.get("status", FIRING)
        if status not in (FIRING, RESOLVED):
            raise WireError(f"status: {status!r} is not one of firing, resolved")
        starts = obj.get("starts_at", obj.get("startsAt"))
        ends = obj.get("ends_at", obj.get("endsAt"))
        starts_at = parse_time(starts, "starts_at") if starts not in (None, "") else now
        ends_at = parse_time(ends, "ends_at") if ends not in (None, "") else 0.0
        if ends_at < 0 or starts_at < 0:
            ends_at = max(ends_at, 0.0)
            starts_at = max(starts_at, 0.0)
        if status == RESOLVED and not ends_at:
            ends_at = now
        return cls(
            tenant=tenant,
            labels=labels,
            annotations=string_map(obj.get("annotations"), "annotations"),
            status=status,
            starts_at=starts_at,
            ends_at=ends_at,
            source=str(obj.get("source") or ""),
            generator_url=str(obj.get("generator_url") or obj.get("generatorURL") or ""),
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "labels": self.labels,
            "annotations": self.annotations,
            "status": self.status,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "source": self.source,
            "generator_url": self.generator_url,
            "fingerprint": self.fingerprint,
        }

    def to_webhook(self, now: float) -> dict[str, Any]:
        """The alert as it appears in Alertmanager's webhook payload (version 4)."""
        resolved = self.resolved_at(now)
        made_from = (resolved, self.starts_at, self.ends_at, id(self.annotations))
        if self._webhook is not None and self._webhook[0] == made_from:
            return self._webhook[1]
        self._webhook = (made_from, self._render_webhook(resolved))
        return self._webhook[1]

    def _render_webhook(self, resolved: bool) -> dict[str, Any]:
        return {
            "status": RESOLVED if resolved else FIRING,
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": format_time(self.starts_at),
            "endsAt": format_time(self.ends_at if resolved else 0.0),
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        }
