"""The notification decision of Alertmanager's DedupStage (``notify/notify.go``).

Per (group, receiver integration) the notification log keeps the fingerprints of the
firing and resolved alerts last notified and when.  ``decide`` compares the
group's current sets with that entry, in Alertmanager's order:

1. no entry: ``first_notification`` if anything fires, else nothing;
2. a firing alert not notified before: ``new_alerts`` (``first_notification`` if the
   previous entry had nothing firing, i.e. it was a resolution);
3. nothing fires: ``all_resolved`` if the entry had firing alerts (irrespective of
   send_resolved, so the log is cleared), else nothing;
4. with ``send_resolved``, a resolved alert not notified before: ``new_resolved``;
5. unchanged: ``repeat_interval`` once the entry is older than ``repeat_interval``.

Our addition: ``acked_until`` on the entry (acknowledgement) suppresses step 5 until
that instant; any change (steps 1-4) still notifies, and ``record`` clears the ack
because the group changed.  ``send_resolved_immediately`` is the dispatcher's: it
can call ``decide`` outside the group_interval tick when ``resolved_changed`` holds.

Costs: set-subset checks, O(alerts in the group).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    FIRST_NOTIFICATION = "first_notification"
    NEW_ALERTS = "new_alerts"
    ALL_RESOLVED = "all_resolved"
    NEW_RESOLVED = "new_resolved"
    REPEAT_INTERVAL = "repeat_interval"


@dataclass(frozen=True, slots=True)
class NflogEntry:
    """What was last notified for one (group key, receiver, integration)."""

    firing: frozenset[str]
    resolved: frozenset[str]
    timestamp: float
    acked_until: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "f": sorted(self.firing),
            "r": sorted(self.resolved),
            "t": self.timestamp,
        }
        if self.acked_until:
            d["a"] = self.acked_until
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NflogEntry:
        return cls(frozenset(d.get("f", ())), frozenset(d.get("r", ())), d["t"], d.get("a", 0.0))

    def acknowledge(self, until: float) -> NflogEntry:
        return NflogEntry(self.firing, self.resolved, self.timestamp, until)


def decide(
    entry: NflogEntry | None,
    firing: Iterable[str],
    resolved: Iterable[str],
    *,
    send_resolved: bool,
    repeat_interval: float,
    now: float,
) -> Reason | None:
    """Whether to notify now, and why (None: don't)."""
    firing = firing if isinstance(firing, set | frozenset) else set(firing)
    if entry is None:
        return Reason.FIRST_NOTIFICATION if firing else None
    if not firing <= entry.firing:
        return Reason.FIRST_NOTIFICATION if not entry.firing else Reason.NEW_ALERTS
    if not firing:
        return Reason.ALL_RESOLVED if entry.firing else None
    if send_resolved:
        resolved = resolved if isinstance(resolved, set | frozenset) else set(resolved)
        if not resolved <= entry.resolved:
            return Reason.NEW_RESOLVED
    if entry.acked_until > now:
        return None
    if entry.timestamp < now - repeat_interval:
        return Reason.REPEAT_INTERVAL
    return None


def record(
    firing: Iterable[str], resolved: Iterable[str], now: float, send_resolved: bool = True
) -> NflogEntry:
    """The entry to store after a successful notification (Alertmanager logs the
    resolved set only for integrations that send resolved)."""
    return NflogEntry(frozenset(firing), frozenset(resolved) if send_resolved else frozenset(), now)


def resolved_changed(entry: NflogEntry | None, resolved: Iterable[str]) -> bool:
    """True if some resolved alert was not notified as resolved yet (for the
    dispatcher's ``send_resolved_immediately``)."""
    if entry is None:
        return False
    return not set(resolved) <= entry.resolved
