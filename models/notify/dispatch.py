"""Aggregation groups, per Alertmanager's dispatcher: routing changed alerts into groups
and telling which groups are due.

Changed alerts are routed into groups (route x group labels, per tenant).  A group is
due first after ``group_wait``, then every ``group_interval``; what happens to a due
group is the notify pipeline's business (``models/notify/stages.py``).  A group holds
its member alerts themselves (not fingerprints to look up), and remembers whether any
member joined or changed since its last flush, so an unchanged group costs nothing.
Pure logic: the runtime persists what ``dirty`` names.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, field
from typing import Any

from models.alerting.alert import FIRING, Alert
from models.notify.routing import Route, RouteTree


@dataclass(slots=True)
class Group:
    tenant: str
    partition: int
    route_id: str
    key: str  # Alertmanager's group key, e.g. {}/{env="prod"}:{alertname="X"}
    labels: dict[str, str]
    members: dict[str, Alert] = field(default_factory=dict)  # fingerprint -> alert
    next_flush: float = 0.0
    flushed: bool = False
    changed: bool = True  # a member joined or changed state since the last flush
    view: Any = None  # the notify pipeline's cached reading of the members
    resolved: set[str] = field(default_factory=set)  # members no longer firing
    _order: list[str] = field(default_factory=list)  # fingerprints, sorted when read
    _unsorted: bool = False

    def sorted_members(self) -> list[Alert]:
        """The members by fingerprint (Alertmanager's order). Kept sorted incrementally:
        newcomers are appended and one timsort merges the two runs, O(n) not O(n log n)."""
        if self._unsorted:
            order = [fp for fp in dict.fromkeys(self._order) if fp in self.members]
            order.sort()
            self._order = order
            self._unsorted = False
        members = self.members
        return [members[fp] for fp in self._order]

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
            # again, so a growing group is not rewritten per batch
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
            next_flush=d["next_flush"],
            flushed=d["flushed"],
        )


class Dispatcher:
    """The groups of the partitions this worker owns, and their flush timers."""

    def __init__(self, root: Route, *, send_resolved_immediately: bool = False) -> None:
        self.root = root
        self.tree = RouteTree(root)
        self.routes = {r.id: r for r in root.walk()}
        # tenants with their own routing tree (``set_routes``); the others use ``tree``
        self.trees: dict[str, RouteTree] = {}
        self.tenant_routes: dict[str, dict[str, Route]] = {}
        # our addition (off by default): a group whose alerts all resolved flushes at
        # once, not after group_interval (Alertmanager #1510)
        self.send_resolved_immediately = send_resolved_immediately
        self.groups: dict[str, Group] = {}
        self._due: list[tuple[float, str]] = []
        self.released: list[tuple[int, Alert]] = []  # alerts no group holds any more
        self.dirty: set[str] = set()  # group ids to persist
        self.deleted: dict[str, int] = {}  # group id -> partition, to delete
        # routes with notify_by: incident group by the alert's incident (the correlator's
        # answer): one group per incident, whichever of those routes its alerts take
        self.incident_of: Callable[[Alert], str | None] | None = None
        self._incident_groups: dict[tuple[str, str], str] = {}  # (tenant, incident) -> gid

    def __len__(self) -> int:
        return len(self.groups)

    def load_group(self, group: Group) -> None:
        self.groups[group.id] = group
        if self.route_of(group).notify_by == "incident" and "incident" in group.labels:
            self._incident_groups[(group.tenant, group.labels["incident"])] = group.id
        heapq.heappush(self._due, (group.next_flush, group.id))

    def add(self, alerts: Iterable[Alert], partition: int, now: float) -> None:
        """Route changed alerts into their groups (a new group is persisted; membership
        is derived again on load, so joining an existing group writes nothing)."""
        groups, default, trees = self.groups, self.tree, self.trees
        for alert in alerts:
            tree = trees.get(alert.tenant, default) if trees else default
            for route in tree.match(alert.labels):
                incident = (
                    self.incident_of(alert)
                    if route.notify_by == "incident" and self.incident_of is not None
                    else None
                )
                if incident is not None:
                    group_labels = {"incident": incident}
                    key = route.group_key(group_labels)
                    own = f"{alert.tenant}/{route.id}/{key}"
                    gid = self._incident_groups.get((alert.tenant, incident), own)
                else:
                    key, group_labels = tree.group(route, alert.labels)
                    gid = f"{alert.tenant}/{route.id}/{key}"  # sibling routes may share a key
                group = groups.get(gid)
                if group is None:
                    if incident is not None:  # the first of the incident's routes owns it
                        gid = self._incident_groups[(alert.tenant, incident)] = own
                    group = groups[gid] = Group(
                        alert.tenant,
                        partition,
                        route.id,
                        key,
                        group_labels,
                        next_flush=now + route.group_wait,
                    )
                    heapq.heappush(self._due, (group.next_flush, gid))
                    self.deleted.pop(gid, None)
                    self.dirty.add(gid)
                fp = alert.fingerprint
                known = group.members.get(fp)
                if known is None:
                    alert.groups += 1
                    group._order.append(fp)
                    group._unsorted = True
                elif known is not alert:  # a new incarnation replaces the old object
                    alert.groups += 1
                    known.groups -= 1
                group.members[fp] = alert
                group.changed = True
                if alert.status == FIRING:
                    group.resolved.discard(fp)
                else:
                    group.resolved.add(fp)
                if (
                    self.send_resolved_immediately
                    and alert.status != FIRING
                    and group.flushed
                    and group.next_flush > now
                    and len(group.resolved) >= len(group.members)
                ):
                    group.next_flush = now
                    heapq.heappush(self._due, (now, gid))
                    self.dirty.add(gid)

    def due(self, now: float) -> list[Group]:
        """The groups whose timer has come, each rescheduled a group_interval ahead."""
        out: list[Group] = []
        heap = self._due
        while heap and heap[0][0] <= now:
            at, gid = heapq.heappop(heap)
            group = self.groups.get(gid)
            if group is None or group.next_flush != at:
                continue  # stale heap entry
            out.append(group)
            group.next_flush = now + self.route_of(group).group_interval
            heapq.heappush(heap, (group.next_flush, gid))
            self.dirty.add(gid)
        return out

    def route_of(self, group: Group) -> Route:
        """The group's route in its tenant's tree (the root if the tree changed under a
        group restored from a table)."""
        routes = self.tenant_routes.get(group.tenant, self.routes)
        found = routes.get(group.route_id)
        return found if found is not None else next(iter(routes.values()))

    def set_routes(
        self, tenant: str | None, root: Route, alerts: Iterable[tuple[int, Alert]], now: float
    ) -> None:
        """Swap a tenant's routing tree (None: the default tree of every tenant without
        its own) and route its alerts (``(partition, alert)``) again, as Alertmanager
        rebuilds its dispatcher on a reload: a group that exists in the new tree keeps
        its timers (and so its notification log: its id is unchanged); a group that does
        not is deleted."""
        if tenant is None:
            self.root, self.tree = root, RouteTree(root)
            self.routes = {r.id: r for r in root.walk()}
        else:
            self.trees[tenant] = RouteTree(root)
            self.tenant_routes[tenant] = {r.id: r for r in root.walk()}

        def affected(t: str) -> bool:
            return t == tenant if tenant is not None else t not in self.trees

        old = {gid: g for gid, g in self.groups.items() if affected(g.tenant)}
        for gid, g in old.items():
            for a in g.members.values():
                a.groups -= 1
            del self.groups[gid]
        by_partition: dict[int, list[Alert]] = {}
        for partition, a in alerts:
            if affected(a.tenant):
                by_partition.setdefault(partition, []).append(a)
        for partition, batch in by_partition.items():
            self.add(batch, partition, now)
        for gid, g in old.items():
            new = self.groups.get(gid)
            if new is None:
                self.deleted[gid] = g.partition
            else:
                new.next_flush, new.flushed = g.next_flush, g.flushed
                heapq.heappush(self._due, (new.next_flush, gid))

    def postpone(self, group: Group, until: float) -> None:
        """Make a due group due again at ``until`` instead of a group_interval later."""
        group.next_flush = until
        heapq.heappush(self._due, (until, group.id))

    def flushed(self, group: Group, shown: bool = True, hold: Set[str] = frozenset()) -> None:
        """After a flush: resolved members leave once a flush has shown them (not while
        the route is muted by its time intervals, nor those in ``hold``: flapping alerts
        shown as firing), and an empty group is deleted."""
        group.flushed = True
        if not shown:
            return
        gone = [fp for fp in group.resolved if fp in group.members and fp not in hold]
        group.resolved.difference_update(gone)
        for fp in gone:
            self._release(group, fp)
        if gone:
            group.changed = True
            group._unsorted = True
        if not group.members:
            del self.groups[group.id]
            self.dirty.discard(group.id)
            self.deleted[group.id] = group.partition
            incident = group.labels.get("incident")
            if incident is not None:
                k = (group.tenant, incident)
                if self._incident_groups.get(k) == group.id:
                    del self._incident_groups[k]

    def _release(self, group: Group, fp: str) -> None:
        alert = group.members.pop(fp)
        alert.groups -= 1
        if alert.groups <= 0:
            self.released.append((group.partition, alert))

    def groups_with_key(self, tenant: str, group_key: str) -> list[Group]:
        """The tenant's groups with this Alertmanager group key (one per matching route)."""
        return [g for g in self.groups.values() if g.tenant == tenant and g.key == group_key]

    def groups_of(self, fingerprint: str) -> list[Group]:
        return [g for g in self.groups.values() if fingerprint in g.members]

    def drain(self) -> tuple[list[Group], dict[str, int]]:
        """(groups to persist, {group id: partition} to delete) since the last drain."""
        out = [self.groups[g] for g in self.dirty if g in self.groups]
        deleted = self.deleted
        self.dirty, self.deleted = set(), {}
        return out, deleted

    def forget_partition(self, partition: int) -> None:
        self.groups = {k: g for k, g in self.groups.items() if g.partition != partition}
        self._incident_groups = {
            k: gid for k, gid in self._incident_groups.items() if gid in self.groups
        }
        self.dirty = {g for g in self.dirty if g in self.groups}
