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


class NotificationLog:
    """Every (group, receiver integration) entry of the partitions this worker owns, and
    which entries changed since they were last persisted (``dirty``)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[int, NflogEntry]] = {}  # key -> (partition, entry)
        self.dirty: set[str] = set()
        self._by_group: dict[str, set[str]] = {}  # group id -> its keys

    def _index(self, key: str) -> None:
        self._by_group.setdefault(key.rsplit("|", 3)[0], set()).add(key)

    def __len__(self) -> int:
        return len(self.entries)

    @staticmethod
    def key(group_id: str, receiver: str, channel: str, index: int) -> str:
        # "<tenant>/<route id>/<group key>|<receiver>|<channel>|<index>"
        return f"{group_id}|{receiver}|{channel}|{index}"

    def get(self, key: str) -> NflogEntry | None:
        found = self.entries.get(key)
        return None if found is None else found[1]

    def record(
        self,
        partition: int,
        key: str,
        firing: Iterable[str],
        resolved: Iterable[str],
        now: float,
        send_resolved: bool,
    ) -> None:
        if key not in self.entries:
            self._index(key)
        self.entries[key] = (partition, record(firing, resolved, now, send_resolved))
        self.dirty.add(key)

    def load(self, key: str, partition: int, data: Mapping[str, Any]) -> None:
        self._index(key)
        self.entries[key] = (partition, NflogEntry.from_dict(data))

    def remove_group(self, group_id: str) -> list[str]:
        """Forget a deleted group's entries (all its alerts resolved and shown: a group
        with that key later starts afresh, as with no entry); returns their keys."""
        keys = self._by_group.pop(group_id, set())
        for key in keys:
            self.entries.pop(key, None)
            self.dirty.discard(key)
        return sorted(keys)

    def acknowledge(self, tenant: str, group_key: str, until: float) -> int:
        """Ack a group: its entries stop repeating until ``until`` or until the group
        changes (``record`` clears the ack). Returns the entries acked."""
        prefix, part = f"{tenant}/", f"/{group_key}|"
        n = 0
        for key, (partition, entry) in list(self.entries.items()):
            if key.startswith(prefix) and part in key:
                self.entries[key] = (partition, entry.acknowledge(until))
                self.dirty.add(key)
                n += 1
        return n

    def forget_firing(self, partition: int, fingerprints: set[str]) -> None:
        """Make the next flush notify these alerts again (a flapping alert, once)."""
        for key, (p, entry) in list(self.entries.items()):
            if p == partition and entry.firing & fingerprints:
                self.entries[key] = (
                    p,
                    NflogEntry(
                        entry.firing - fingerprints,
                        entry.resolved,
                        entry.timestamp,
                        entry.acked_until,
                    ),
                )
                self.dirty.add(key)

    def drain(self) -> set[str]:
        """The keys of the entries changed since the last drain."""
        out, self.dirty = self.dirty, set()
        return out

    def snapshot(self, keys: Iterable[str]) -> list[tuple[int, str, dict[str, Any]]]:
        """(partition, key, entry as stored) of these keys, as they are now."""
        entries = self.entries
        return [(entries[k][0], k, entries[k][1].to_dict()) for k in keys if k in entries]

    def keys_of(self, tenant: str) -> list[str]:
        return [k for k in self.entries if k.startswith(tenant + "/")]

    def forget_partition(self, partition: int) -> None:
        self.entries = {k: v for k, v in self.entries.items() if v[0] != partition}
        self.dirty = {k for k in self.dirty if k in self.entries}
        self._by_group = {}
        for key in self.entries:
            self._index(key)
