"""The notification record: one message for one integration of one receiver.

It travels on `notifications.<channel>` and carries everything a channel needs to
render it, so channel agents keep no state of their own.  ``payload()`` is
Alertmanager's webhook payload (version 4) plus ``tenant``: every channel renders
from the same data an Alertmanager template would see.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from models.alerting.alert import FIRING, RESOLVED


@dataclass(slots=True)
class Notification:
    id: str  # idempotency key: the same notification always has the same id
    tenant: str
    receiver: str
    channel: str  # "webhook", "email", "slack", ... (the topic suffix)
    integration: int  # index into the receiver's `<channel>_configs` list
    group_key: str
    group_labels: dict[str, str]
    alerts: list[dict[str, Any]]  # alerts in webhook form (Alert.to_webhook)
    reason: str = "first_notification"
    external_url: str = ""
    created_at: float = 0.0
    truncated_alerts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return FIRING if any(a["status"] == FIRING for a in self.alerts) else RESOLVED

    def firing(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["status"] == FIRING]

    def resolved(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["status"] == RESOLVED]

    def common(self, key: str) -> dict[str, str]:
        """Labels (or annotations) that every alert shares, as Alertmanager computes them."""
        if not self.alerts:
            return {}
        first = self.alerts[0][key]
        return {k: v for k, v in first.items() if all(a[key].get(k) == v for a in self.alerts[1:])}

    def payload(self) -> dict[str, Any]:
        """Alertmanager's webhook payload, version 4, plus tenant and the reason."""
        return {
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": self.truncated_alerts,
            "status": self.status,
            "receiver": self.receiver,
            "groupLabels": self.group_labels,
            "commonLabels": self.common("labels"),
            "commonAnnotations": self.common("annotations"),
            "externalURL": self.external_url,
            "alerts": self.alerts,
            "tenant": self.tenant,
            "notification_reason": self.reason,
        }

    def to_wire(self) -> dict[str, Any]:
        # shallow on purpose: dataclasses.asdict deep-copies every alert of the group
        return {f: getattr(self, f) for f in _FIELDS}

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> Notification:
        return cls(**obj)


_FIELDS = tuple(f.name for f in fields(Notification))


MAX_NOTIFICATION_BYTES = 4 * 1024 * 1024
"""A notification larger than this is cut (its first alerts kept, the rest counted in
``truncatedAlerts``, as Alertmanager's webhook ``max_alerts`` does): it must fit in one
Kafka record, and few receivers take a larger body."""


def encode_bounded(n: Notification, limit: int = MAX_NOTIFICATION_BYTES) -> bytes:
    """The notification's wire form, its alerts cut to fit ``limit`` bytes if need be."""
    raw = orjson.dumps(n.to_wire())
    total = len(n.alerts)
    while len(raw) > limit and n.alerts:
        keep = max(0, min(len(n.alerts) - 1, int(len(n.alerts) * limit / len(raw) * 0.9)))
        n.alerts = n.alerts[:keep]
        n.truncated_alerts += total - keep
        total = keep
        raw = orjson.dumps(n.to_wire())
    return raw
