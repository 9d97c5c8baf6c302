"""Aggregation groups and the notification pipeline, per Alertmanager's dispatcher.

Changed alerts are routed into groups (route x group labels, per tenant).  A group
flushes first after ``group_wait``, then every ``group_interval``; a flush runs the
notify pipeline stage by stage: time intervals, inhibition and silences (mutes), then
the dedup decision against the notification log, per receiver integration.  Pure
logic: the agent persists what ``dirty`` names and sends what ``flush`` returns.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from models.alerting.alert import FIRING, Alert
from models.notify.nflog import NflogEntry, decide, record
from models.notify.notification import Notification
from models.notify.routing import Route

Mute = Callable[[dict[str, str], float], bool]
Lookup = Callable[[int, str], Alert | None]  # (partition, fingerprint) -> the alert


@dataclass(slots=True)
class Group:
    tenant: str
    partition: int
    route_id: str
    key: str  # Alertmanager's group key, e.g. {}/{env="prod"}:{alertname="X"}
    labels: dict[str, str]
    members: set[str] = field(default_factory=set)
    next_flush: float = 0.0
    flushed: bool = False

    @property
    def id(self) -> str:
        return f"{self.tenant}/{self.route_id}/{self.key}"

    def to_wire(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "partition": self.partition,
            "route": self.route_id,
            "key": self.key,
            "labels": self.labels,
            # no members: they are derived on load by routing the partition's alerts
            # again (``restore_members``), so a growing group is not rewritten per batch
            "next_flush": self.next_flush,
            "flushed": self.flushed,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Group:
        return cls(
            d["tenant"],
            d["partition"],
            d["route"],
            d["key"],
            d["labels"],
            set(),
            d["next_flush"],
            d["flushed"],
        )


@dataclass(slots=True)
class Integration:
    receiver: str
    channel: str
    index: int
    send_resolved: bool


class Dispatcher:
    def __init__(
        self,
        root: Route,
        integrations: Callable[[str], list[Integration]],
        external_url: str = "",
        route_muted: Callable[[Route, float], bool] = lambda route, now: False,
        *,
        send_resolved_for_muted: bool = False,
        send_resolved_immediately: bool = False,
        lookup: Lookup | None = None,
    ) -> None:
        self.root = root
        self.routes = {r.id: r for r in root.walk()}
        self.integrations = integrations
        self.external_url = external_url
        self.route_muted = route_muted
        # our additions to Alertmanager (off by default):
        # resolved notifications for alerts muted after they were notified firing (#226)
        self.send_resolved_for_muted = send_resolved_for_muted
        # a group whose alerts all resolved flushes at once, not after group_interval (#1510)
        self.send_resolved_immediately = send_resolved_immediately
        self.lookup = lookup  # needed by send_resolved_immediately
        self.groups: dict[str, Group] = {}
        self._due: list[tuple[float, str]] = []
        self.nflog: dict[str, tuple[int, NflogEntry]] = {}  # key -> (partition, entry)
        self.refs: dict[str, int] = {}  # fingerprint -> groups holding it
        self.released: list[tuple[int, str]] = []  # (partition, fp) no group holds now
        self.deleted_partition: dict[str, int] = {}
        self.dirty_groups: set[str] = set()
        self.dirty_nflog: set[str] = set()
        self.deleted_groups: set[str] = set()

    def load_group(self, group: Group) -> None:
        self.groups[group.id] = group
        for fp in group.members:
            self.refs[fp] = self.refs.get(fp, 0) + 1
        heapq.heappush(self._due, (group.next_flush, group.id))

    def restore_members(self, alerts: list[Alert], partition: int, now: float) -> None:
        """After loading a partition's groups, put its alerts back into them."""
        self.add(alerts, partition, now)

    def add(self, alerts: list[Alert], partition: int, now: float) -> None:
        """Route changed alerts into their groups (a new group is written; membership is
        derived again on load, so joining an existing group writes nothing)."""
        for alert in alerts:
            for route in self.root.match(alert.labels):
                key = route.group_key(route.group_labels(alert.labels))
                gid = f"{alert.tenant}/{route.id}/{key}"  # sibling routes may share a key
                group = self.groups.get(gid)
                if group is None:
                    group = self.groups[gid] = Group(
                        alert.tenant,
                        partition,
                        route.id,
                        key,
                        route.group_labels(alert.labels),
                        next_flush=now + route.group_wait,
                    )
                    heapq.heappush(self._due, (group.next_flush, gid))
                    self.deleted_groups.discard(gid)
                    self.dirty_groups.add(gid)
                if alert.fingerprint not in group.members:
                    group.members.add(alert.fingerprint)
                    self.refs[alert.fingerprint] = self.refs.get(alert.fingerprint, 0) + 1
                if (
                    self.send_resolved_immediately
                    and alert.status != FIRING
                    and group.flushed
                    and group.next_flush > now
                    and self._all_resolved(group)
                ):
                    group.next_flush = now
                    heapq.heappush(self._due, (now, gid))
                    self.dirty_groups.add(gid)

    def _all_resolved(self, group: Group) -> bool:
        lookup = self.lookup
        if lookup is None:
            return False
        for fp in group.members:
            a = lookup(group.partition, fp)
            if a is not None and a.status == FIRING:
                return False
        return True

    def groups_with_key(self, tenant: str, group_key: str) -> list[Group]:
        """The tenant's groups with this Alertmanager group key (one per matching route)."""
        return [g for g in self.groups.values() if g.tenant == tenant and g.key == group_key]

    def acknowledge(self, tenant: str, group_key: str, until: float) -> int:
        """Ack a group: its notification log entries stop repeating until ``until`` or
        until the group changes (``record`` clears the ack). Returns the entries acked."""
        # log keys are "<tenant>/<route id>/<group key>|<receiver>|<channel>|<index>"
        prefix, part = f"{tenant}/", f"/{group_key}|"
        n = 0
        for key, (partition, entry) in list(self.nflog.items()):
            if key.startswith(prefix) and part in key:
                self.nflog[key] = (partition, entry.acknowledge(until))
                self.dirty_nflog.add(key)
                n += 1
        return n

    def forget_logged_firing(self, partition: int, fingerprints: set[str]) -> None:
        """Make the next flush notify these alerts again (a flapping alert, once)."""
        for key, (p, entry) in list(self.nflog.items()):
            if p == partition and entry.firing & fingerprints:
                self.nflog[key] = (
                    p,
                    NflogEntry(
                        entry.firing - fingerprints,
                        entry.resolved,
                        entry.timestamp,
                        entry.acked_until,
                    ),
                )
                self.dirty_nflog.add(key)

    def flush(self, now: float, alerts: Lookup, muted: Mute) -> list[Notification]:
        """Flush every due group; returns the notifications to send."""
        out: list[Notification] = []
        due = self._due
        while due and due[0][0] <= now:
            at, gid = heapq.heappop(due)
            group = self.groups.get(gid)
            if group is None or group.next_flush != at:
                continue  # stale heap entry
            route = self.routes[group.route_id]
            out.extend(self._flush_group(group, route, now, alerts, muted))
            group.flushed = True
            if group.members:
                group.next_flush = now + route.group_interval
                heapq.heappush(due, (group.next_flush, gid))
                self.dirty_groups.add(gid)
            else:
                del self.groups[gid]
                self.dirty_groups.discard(gid)
                self.deleted_groups.add(gid)
                self.deleted_partition[gid] = group.partition
        return out

    def _flush_group(
        self, group: Group, route: Route, now: float, alerts: Lookup, muted: Mute
    ) -> list[Notification]:
        p = group.partition
        members = [a for fp in sorted(group.members) if (a := alerts(p, fp)) is not None]
        self._release(p, group.members - {a.fingerprint for a in members})
        group.members = {a.fingerprint for a in members}
        if self.route_muted(route, now):
            return []
        # Alertmanager's MuteStage filters firing and resolved alerts alike
        firing: list[Alert] = []
        resolved: list[Alert] = []
        muted_resolved: list[Alert] = []
        muted_firing: set[str] = set()
        for a in members:
            is_muted = muted(a.labels, now)
            if a.status == FIRING:
                if not is_muted:
                    firing.append(a)
                else:
                    muted_firing.add(a.fingerprint)
            elif not is_muted:
                resolved.append(a)
            else:
                muted_resolved.append(a)
        firing_fps = {a.fingerprint for a in firing}
        base_resolved = resolved
        out = []
        for integ in self.integrations(route.receiver):
            log_key = f"{group.id}|{integ.receiver}|{integ.channel}|{integ.index}"
            entry = self.nflog.get(log_key, (p, None))[1]
            resolved = base_resolved
            logged_firing = firing_fps
            if self.send_resolved_for_muted and entry is not None:
                # our addition (AM #226): an alert muted after it was notified firing
                # stays logged as firing, and gets its resolved notification
                if muted_firing:
                    logged_firing = firing_fps | (muted_firing & entry.firing)
                if muted_resolved:
                    resolved = base_resolved + [
                        a for a in muted_resolved if a.fingerprint in entry.firing
                    ]
            resolved_fps = {a.fingerprint for a in resolved}
            reason = decide(
                entry,
                logged_firing,
                resolved_fps,
                send_resolved=integ.send_resolved,
                repeat_interval=route.repeat_interval,
                now=now,
            )
            if reason is None:
                continue
            shown = firing + (resolved if integ.send_resolved else [])
            if not shown:
                self._log(p, log_key, logged_firing, resolved_fps, now, integ.send_resolved)
                continue
            # the same notification (same group state after the same log entry) always
            # gets the same id, so a receiver can drop a resend after a crash
            previous = entry.timestamp if entry else 0.0
            digest = hashlib.sha256(
                f"{log_key}|{sorted(firing_fps)}|{sorted(resolved_fps)}|{previous}".encode()
            ).hexdigest()[:32]
            out.append(
                Notification(
                    id=digest,
                    tenant=group.tenant,
                    receiver=integ.receiver,
                    channel=integ.channel,
                    integration=integ.index,
                    group_key=group.key,
                    group_labels=group.labels,
                    alerts=[a.to_webhook(now) for a in shown],
                    reason=str(reason),
                    external_url=self.external_url,
                    created_at=now,
                )
            )
            self._log(p, log_key, logged_firing, resolved_fps, now, integ.send_resolved)
        # resolved alerts leave the group once a flush has seen them
        gone = {a.fingerprint for a in members if a.status != FIRING}
        group.members -= gone
        self._release(p, gone)
        return out

    def _release(self, partition: int, fingerprints: set[str]) -> None:
        for fp in fingerprints:
            n = self.refs.get(fp, 1) - 1
            if n <= 0:
                self.refs.pop(fp, None)
                self.released.append((partition, fp))
            else:
                self.refs[fp] = n

    def _log(
        self,
        partition: int,
        key: str,
        firing: set[str],
        resolved: set[str],
        now: float,
        send_resolved: bool,
    ) -> None:
        self.nflog[key] = (partition, record(firing, resolved, now, send_resolved))
        self.dirty_nflog.add(key)

    def load_log(self, key: str, partition: int, data: dict[str, Any]) -> None:
        self.nflog[key] = (partition, NflogEntry.from_dict(data))

    def log_entry(self, key: str) -> tuple[int, dict[str, Any]]:
        partition, entry = self.nflog[key]
        return partition, entry.to_dict()

    def forget_partitions(self, keep: Callable[[int], bool]) -> None:
        for g in self.groups.values():
            if not keep(g.partition):
                for fp in g.members:
                    self.refs.pop(fp, None)
        self.groups = {k: g for k, g in self.groups.items() if keep(g.partition)}
        self.nflog = {k: v for k, v in self.nflog.items() if keep(v[0])}
