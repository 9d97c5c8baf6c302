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

from models.alert import FIRING, Alert
from models.dedup import NflogEntry, decide, record
from models.notification import Notification
from models.routing import Route

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
        return f"{self.tenant}/{self.key}"

    def to_wire(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "partition": self.partition,
            "route": self.route_id,
            "key": self.key,
            "labels": self.labels,
            "members": sorted(self.members),
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
            set(d["members"]),
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
    ) -> None:
        self.root = root
        self.routes = {r.id: r for r in root.walk()}
        self.integrations = integrations
        self.external_url = external_url
        self.route_muted = route_muted
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

    def add(self, alerts: list[Alert], partition: int, now: float) -> None:
        """Route changed alerts into their groups."""
        for alert in alerts:
            for route in self.root.match(alert.labels):
                key = route.group_key(route.group_labels(alert.labels))
                gid = f"{alert.tenant}/{key}"
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
                if alert.fingerprint not in group.members:
                    group.members.add(alert.fingerprint)
                    self.refs[alert.fingerprint] = self.refs.get(alert.fingerprint, 0) + 1
                self.dirty_groups.add(gid)

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
        firing = [a for a in members if a.status == FIRING and not muted(a.labels, now)]
        resolved = [a for a in members if a.status != FIRING]
        firing_fps = {a.fingerprint for a in firing}
        resolved_fps = {a.fingerprint for a in resolved}
        out = []
        for integ in self.integrations(route.receiver):
            log_key = f"{group.id}|{integ.receiver}|{integ.channel}|{integ.index}"
            entry = self.nflog.get(log_key, (p, None))[1]
            reason = decide(
                entry,
                firing_fps,
                resolved_fps,
                send_resolved=integ.send_resolved,
                repeat_interval=route.repeat_interval,
                now=now,
            )
            if reason is None:
                continue
            shown = firing + (resolved if integ.send_resolved else [])
            if not shown:
                self._log(p, log_key, firing_fps, resolved_fps, now, integ.send_resolved)
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
            self._log(p, log_key, firing_fps, resolved_fps, now, integ.send_resolved)
        # resolved alerts leave the group once a flush has seen them
        group.members -= resolved_fps
        self._release(p, resolved_fps)
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
        self.groups = {k: g for k, g in self.groups.items() if keep(g.partition)}
        self.nflog = {k: v for k, v in self.nflog.items() if keep(v[0])}
