"""Suppression, shared by the alerts agent and the API: inhibition, silences, time intervals.

One ``mutes(labels, now)`` answer for the notify pipeline, as Alertmanager's silencer
and inhibitor share one interface.

Silences: the commands agent (the owner of the tenant's partition) writes each
silence to the ``silences`` table; every worker tails that table's changelog topic
from the beginning with a group-less consumer (``replicate_silences``), so every
worker's ``SilenceIndex`` holds every silence and is updated one silence at a time
(no rebuild).  The writer applies its own writes at once; a record read back later
applies only if it is not older (``updated_at``).  Until the tail has caught up with
the end offsets seen at start, ``ready`` is false and the alerts agent does not flush,
so a restarted worker never notifies an alert a silence covers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import faust
import orjson

from agents.topic_tail import tail
from app.config.schema import PipelinesConfig
from models.alerting.alert import Alert
from models.notify.routing import Route
from models.suppression.inhibit import Inhibitor
from models.suppression.silences import Silence, SilenceIndex
from models.suppression.timeintervals import NamedTimeIntervals, is_active
from tables.store import PartitionStore

log = logging.getLogger(__name__)


class Suppressor:
    def __init__(self, config: PipelinesConfig, table: PartitionStore) -> None:
        self.table = table
        self.intervals: dict[str, NamedTimeIntervals] = {
            t.name: t.build() for t in config.time_intervals
        }
        self.inhibitor = Inhibitor.from_config(config.inhibit_rules)
        # tenants with their own inhibitions and time intervals (``set_tenant``); a route
        # finds its intervals by its tree's root
        self.inhibitors: dict[str, Inhibitor] = {}
        self.root_intervals: dict[int, tuple[Route, dict[str, NamedTimeIntervals]]] = {}
        self._swaps = 0  # bumped on every swap: cached mute answers no longer hold
        self.silences = SilenceIndex(self.intervals, retention=config.silences.retention)
        self.silence_partition: dict[str, int] = {}  # silence id -> table partition
        self.ready = False  # silences replicated up to the end offsets seen at start

    def observe(self, alerts: Iterable[Alert]) -> None:
        """Feed alert state changes to the inhibitor (firing alerts are sources)."""
        inhibitors, default = self.inhibitors, self.inhibitor
        for alert in alerts:
            (inhibitors.get(alert.tenant, default) if inhibitors else default).add_alert(alert)

    def forget(self, fingerprint: str) -> None:
        self.inhibitor.remove(fingerprint)
        for inhibitor in self.inhibitors.values():
            inhibitor.remove(fingerprint)

    def inhibitor_for(self, labels: Mapping[str, str]) -> Inhibitor:
        if not self.inhibitors:
            return self.inhibitor
        return self.inhibitors.get(labels.get("tenant", ""), self.inhibitor)

    def set_tenant(
        self, tenant: str | None, config: PipelinesConfig, root: Route, alerts: Iterable[Alert]
    ) -> None:
        """Swap a tenant's inhibitions and time intervals (None: the default ones of
        every tenant without its own); ``alerts``: its current alerts, the sources."""
        inhibitor = Inhibitor.from_config(config.inhibit_rules)
        if tenant is None:
            own = set(self.inhibitors)
            inhibitor.rebuild([a for a in alerts if a.tenant not in own])
            self.inhibitor = inhibitor
            self.intervals = {t.name: t.build() for t in config.time_intervals}
        else:
            inhibitor.rebuild([a for a in alerts if a.tenant == tenant])
            self.inhibitors[tenant] = inhibitor
        intervals = {t.name: t.build() for t in config.time_intervals}
        self.root_intervals[id(root)] = (root, intervals)
        self._swaps += 1

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.inhibitor_for(labels).mutes(labels, now) or bool(
            self.silences.mutes(labels, now)
        )

    def epoch(self, now: float) -> tuple[int, int, float] | None:
        """What ``mutes`` answers depend on; None when they may change any moment.
        Unchanged epoch: the answers given before still hold."""
        until = self.silences.next_change(now)
        if until is None:
            return None
        version = self.inhibitor.version + sum(i.version for i in self.inhibitors.values())
        return (self.silences.version, version + self._swaps, until)

    def route_muted(self, route: Route, now: float) -> bool:
        """Mute time intervals hit, or active time intervals given and none active."""
        if not (route.mute_time_intervals or route.active_time_intervals):
            return False
        root = route
        while root.parent is not None:
            root = root.parent
        found = self.root_intervals.get(id(root))
        intervals = found[1] if found is not None and found[0] is root else self.intervals
        if route.mute_time_intervals and is_active(route.mute_time_intervals, intervals, now):
            return True
        return bool(route.active_time_intervals) and not is_active(
            route.active_time_intervals, intervals, now
        )

    def load_silences(self, silences: Iterable[Silence]) -> None:
        index = SilenceIndex(self.intervals, retention=self.silences.retention)
        for s in silences:
            index.put(s)
        self.silences = index

    # --- replication ----------------------------------------------------------------
    def apply_silence(self, partition: int, sid: str, data: dict[str, Any] | None) -> bool:
        """One silence record (None: deleted). Returns True if the index changed."""
        index = self.silences
        if data is None:
            self.silence_partition.pop(sid, None)
            return index.remove(sid)
        s = Silence.from_dict(data)
        old = index.get(sid)
        if old is not None and old.updated_at > s.updated_at:
            return False  # an older record read back after our own newer write
        if old is not None and old.to_dict() == s.to_dict():
            return False
        index.put(s)
        self.silence_partition[sid] = partition
        return True

    def silence_status(self, labels: Mapping[str, str], now: float) -> tuple[list[str], list[str]]:
        """(silenced by, inhibited by) for the API's alert status."""
        inhibitors = self.inhibitor_for(labels).all_inhibitors(labels, now)
        return self.silences.mutes(labels, now), inhibitors


def register(app: faust.App, suppressor: Suppressor, broker: str) -> None:
    """Tail the silences changelog on every worker (see the module docstring)."""

    @app.task
    async def replicate_silences() -> None:
        # on an error, log it and start over from the beginning (applying is idempotent)
        while True:
            try:
                await _tail_silences(app, suppressor, broker)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("silence replication failed; restarting")
                await asyncio.sleep(1.0)


async def _tail_silences(app: faust.App, suppressor: Suppressor, broker: str) -> None:
    async def apply(partition: int, key: bytes | None, raw: bytes | None) -> None:
        if key is not None:
            data = orjson.loads(raw) if raw is not None else None
            suppressor.apply_silence(partition, key.decode(), data)

    def caught_up() -> None:
        suppressor.ready = True
        log.info("silences replicated: %d in the index", len(suppressor.silences))

    await tail(app, broker, suppressor.table.topic, apply, caught_up)
