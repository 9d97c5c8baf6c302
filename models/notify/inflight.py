"""Notifications handed to the senders and not yet settled, per group.

Alertmanager starts a group's next ``group_interval`` only once the group's previous
notification has been sent (retries included). Here the alert path and the senders are
separate agents joined by a topic, so the alert path would otherwise produce a new,
larger notification of a growing group every interval however far the senders lag: a
storm would cost O(alerts x intervals). The runtime asks ``busy`` before it flushes a
group and waits while the group's last notifications are unsettled; the senders call
``settled`` with every receipt (delivered, dead, skipped). An entry older than
``max_wait`` no longer holds the group (a sender on another worker, a lost receipt).
"""

from __future__ import annotations

from collections.abc import Iterable


class InFlight:
    def __init__(self, max_wait: float = 60.0) -> None:
        self.max_wait = max_wait
        self._groups: dict[str, tuple[float, set[str]]] = {}  # group id -> (sent at, ids)
        self._group_of: dict[str, str] = {}  # notification id -> group id

    def __len__(self) -> int:
        return len(self._group_of)

    def sent(self, group_id: str, ids: Iterable[str], now: float) -> None:
        pending = set(ids)
        if not pending:
            return
        old = self._groups.pop(group_id, None)
        if old is not None:
            for nid in old[1]:
                self._group_of.pop(nid, None)
        self._groups[group_id] = (now, pending)
        for nid in pending:
            self._group_of[nid] = group_id

    def settled(self, notification_id: str) -> None:
        group_id = self._group_of.pop(notification_id, None)
        if group_id is None:
            return
        found = self._groups.get(group_id)
        if found is not None:
            found[1].discard(notification_id)
            if not found[1]:
                del self._groups[group_id]

    def busy(self, group_id: str, now: float) -> bool:
        found = self._groups.get(group_id)
        if found is None:
            return False
        if now - found[0] > self.max_wait:
            self._forget(group_id)
            return False
        return True

    def _forget(self, group_id: str) -> None:
        _, ids = self._groups.pop(group_id)
        for nid in ids:
            self._group_of.pop(nid, None)
