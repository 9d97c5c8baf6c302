"""Alert lifecycle: merge incoming alerts into the active set, as Alertmanager's store does.

Pure logic over one partition's alerts.  ``merge`` returns only the alerts whose
state changed (new, firing<->resolved); refreshes (a re-sent firing alert extending
``ends_at``) stay in memory, so steady re-sends cost a dict lookup and no write.
Alerts whose ``ends_at`` passes resolve on their own (``expire``).  A refresh is
written only when the stored ``ends_at`` would lapse within half the new lifetime,
so a restarted worker never resolves an alert that was being re-sent all along.
"""

from __future__ import annotations

import heapq

from models.alerting.alert import FIRING, NO_ANNOTATIONS, RESOLVED, Alert


class AlertSet:
    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        # when alerts may expire, checked lazily: fingerprints by the whole second their
        # ends_at falls in (a list slot per alert, not a heap entry of a tuple and a float)
        self._due: dict[int, list[str]] = {}
        self._seconds: list[int] = []  # a heap of the keys of ``_due``

    def __len__(self) -> int:
        return len(self.alerts)

    def load(self, alert: Alert) -> None:
        self.alerts[alert.fingerprint] = alert
        alert.stored_ends = alert.ends_at
        if alert.status == FIRING and alert.ends_at:
            self._arm(alert.ends_at, alert.fingerprint)

    def _arm(self, ends_at: float, fingerprint: str) -> None:
        second = int(ends_at)
        bucket = self._due.get(second)
        if bucket is None:
            self._due[second] = [fingerprint]
            heapq.heappush(self._seconds, second)
        else:
            bucket.append(fingerprint)

    def merge(self, incoming: list[Alert], now: float) -> tuple[list[Alert], list[Alert]]:
        """Returns (alerts whose state changed, refreshed alerts due for a write)."""
        changed: list[Alert] = []
        stale: list[Alert] = []
        alerts = self.alerts
        for new in incoming:
            fp = new.fingerprint
            old = alerts.get(fp)
            if new.status == FIRING and 0 < new.ends_at <= now:
                new.status = RESOLVED  # arrived already expired
            if old is None:
                if new.status == RESOLVED:
                    continue  # never seen firing: nothing to resolve
                alerts[fp] = new
                changed.append(new)
            elif old.status == RESOLVED:
                if new.status == RESOLVED:
                    continue
                alerts[fp] = new  # a new incarnation
                changed.append(new)
            elif new.status == RESOLVED:
                old.status, old.ends_at = RESOLVED, new.ends_at or now
                if new.annotations_json != NO_ANNOTATIONS:
                    old.annotations_json = new.annotations_json
                old.changed()
                changed.append(old)
                continue
            else:  # a refresh of a firing alert
                before = old.ends_at
                old.ends_at = new.ends_at
                if new.annotations_json != old.annotations_json:
                    old.annotations_json = new.annotations_json
                    old.changed()
                if new.starts_at < old.starts_at:
                    old.starts_at = new.starts_at
                    old.changed()
                stored = old.stored_ends
                if stored and stored - now < (old.ends_at - now) / 2:
                    stale.append(old)
                # the pending expiry entry is re-armed when it comes due (``expire``);
                # a new one is needed only if the alert now ends sooner
                if old.ends_at and (not before or old.ends_at < before):
                    self._arm(old.ends_at, fp)
                continue
            if new.status == FIRING and new.ends_at:
                self._arm(new.ends_at, fp)
        for alert in changed:
            alert.stored_ends = alert.ends_at
        for alert in stale:
            alert.stored_ends = alert.ends_at
        return changed, stale

    def expire(self, now: float) -> list[Alert]:
        """Resolve firing alerts whose ends_at has passed (not re-sent in time)."""
        out: list[Alert] = []
        later: list[tuple[float, str]] = []  # refreshed since, or due later in the second
        seconds, due, alerts = self._seconds, self._due, self.alerts
        while seconds and seconds[0] <= now:
            for fp in due.pop(heapq.heappop(seconds)):
                alert = alerts.get(fp)
                if alert is None or alert.status != FIRING or not alert.ends_at:
                    continue
                if alert.ends_at <= now:
                    alert.status = RESOLVED
                    alert.changed()
                    out.append(alert)
                else:
                    later.append((alert.ends_at, fp))
        for ends_at, fp in later:
            self._arm(ends_at, fp)
        return out

    def drop(self, fingerprint: str) -> None:
        self.alerts.pop(fingerprint, None)
