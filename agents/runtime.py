"""The alert path's state and its one owner: ``AlertRuntime``.

Built once from the validated config (``app/worker.py``) and handed to the agents that
feed it (``agents/alerts.py``, ``agents/commands.py``) and to the HTTP views that read
it.  It holds, for the partitions this worker owns: the active alerts (one ``AlertSet``
per partition), the aggregation groups (``Dispatcher``), the notification log, the
suppressor (silences, inhibition, time intervals), flap detection and per-tenant
limits, and the notify pipeline built from them (``models/notify/stages.py``).

Durable state is written per batch through ``tables.store``: an input record or a timer
pass costs one RocksDB WriteBatch per partition and one changelog record per changed
key, whatever the number of alerts in it.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from opentelemetry.trace import SpanKind

from agents.dlq import dead_letters, raw_reject
from agents.partitions import OwnedPartitions
from agents.sealing import sealed_letters
from agents.suppression import Suppressor
from app.config.schema import PipelinesConfig
from app.config.tenants import TenantConfigs
from app.faust_app import dlq_topic, history_topic, notification_topics, send_batch
from app.settings import Settings
from models.alerting.alert import FIRING, RESOLVED, Alert, parse_alerts
from models.alerting.flapping import FLAPPING, FlapConfig, FlapDetector
from models.alerting.lifecycle import AlertSet
from models.counts import IngestCounts
from models.dead_letter import dead_letter
from models.notify.dispatch import Dispatcher, Group
from models.notify.inflight import InFlight
from models.notify.nflog import NotificationLog
from models.notify.notification import Notification, encode_bounded
from models.notify.routing import Route
from models.notify.stages import (
    GroupFlush,
    Integration,
    RateLimitStage,
    build_pipeline,
    notifications,
)
from models.tracing import TenantTraces, batch_span, headers_now
from models.wire import WireError
from tables.store import Checkpoint, PartitionStore

if TYPE_CHECKING:
    from agents.incidents import IncidentStage

log = logging.getLogger(__name__)


class Stores:
    """The tables the alert path writes (declared in ``tables/``)."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        alerts: PartitionStore,
        groups: PartitionStore,
        nflog: PartitionStore,
        history: PartitionStore,
        silences: PartitionStore,
    ) -> None:
        self.checkpoint = checkpoint
        self.alerts = alerts
        self.groups = groups
        self.nflog = nflog
        self.history = history
        self.silences = silences


class AlertRuntime:
    def __init__(
        self,
        config: PipelinesConfig,
        settings: Settings,
        stores: Stores,
        inflight: InFlight,
        configs: TenantConfigs | None = None,
    ) -> None:
        self.config = config
        # per-tenant configs changed at run time (app/config/tenants.py): routes,
        # receivers, inhibitions and time intervals swap in ``_swap``
        self.configs = configs if configs is not None else TenantConfigs(config)
        self.configs.subscribe(self._swap)
        self.inflight = inflight  # what the senders have not settled yet, per group
        self.stores = stores
        self.alert_sets: defaultdict[int, AlertSet] = defaultdict(AlertSet)
        self.owned = OwnedPartitions("", self._load, self._drop)  # see ``bind``
        self.suppressor = Suppressor(config, stores.silences)
        self.dispatcher = Dispatcher(
            Route.from_config(config.route),
            send_resolved_immediately=config.send_resolved_immediately,
        )
        self.nflog = NotificationLog()
        self.flaps = (
            FlapDetector(
                FlapConfig(
                    config.flapping.threshold, config.flapping.window, config.flapping.stable_for
                )
            )
            if config.flapping
            else None
        )
        self.flap_pinned: set[str] = set()  # fingerprints held as firing while they flap
        self.incidents: IncidentStage | None = None  # correlation: (attach_incidents)
        # told of every flush after its notifications are sent: (flushes, now)
        self.observers: list[Callable[[list[GroupFlush], float], None]] = []
        self.priority = config.priority.build() if config.priority else None
        self.limits = config.limits
        self.active_count: defaultdict[str, int] = defaultdict(int)  # tenant -> firing
        self.limit_stats: defaultdict[str, defaultdict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        self.partition_of: dict[str, int] = {}  # tenant -> its partition (seen here)
        self.ingested = IngestCounts()  # alerts read from the topic (for /metrics)
        # per tenant, the trace of the batch that last changed it (tracing on only)
        self.traces = TenantTraces() if settings.otlp_endpoint else None
        # data_protection.personal_labels: agents/privacy.py's PersonalData.apply
        self.personal: Callable[[int, list[Alert]], Awaitable[list[Alert]]] | None = None
        self._seq = 0  # orders history events recorded in the same microsecond
        self.rate_limit = RateLimitStage(self.limits.max_notifications_per_minute, self.limit_stats)
        self._integrations: dict[tuple[str, str], list[Integration]] = {}
        self.pipeline = build_pipeline(
            route_muted=self.suppressor.route_muted,
            flap_pinned=self.flap_pinned,
            muter=self.suppressor,
            log=self.nflog,
            integrations=self.integrations,
            external_url=settings.external_url,
            rate_limit=self.rate_limit,
            send_resolved_for_muted=config.send_resolved_for_muted,
        )
        for tenant in self.configs.tenants():  # the tenant files
            self._route(tenant, self.configs.config_for(tenant), time.time())

    def integrations(self, tenant: str, receiver: str) -> list[Integration]:
        """The integrations of the tenant's receiver (cached per config)."""
        owner = tenant if tenant in self.configs.configs else ""
        found = self._integrations.get((owner, receiver))
        if found is None:
            config = self.configs.config_for(tenant)
            found = self._integrations[(owner, receiver)] = [
                Integration(receiver, kind, index, bool(getattr(cfg, "send_resolved", True)))
                for kind, index, cfg in config.receiver(receiver).integrations()
            ]
        return found

    def config_for(self, tenant: str) -> PipelinesConfig:
        """The config that applies to ``tenant`` (its own, else pipelines.yaml): the one
        lookup agents and views make; subscribe to ``configs`` to follow changes."""
        return self.configs.config_for(tenant)

    def _swap(self, tenant: str | None, config: PipelinesConfig, now: float) -> None:
        """A validated config version of ``tenant`` (None: the default) is installed: its
        routes, receivers, inhibitions and time intervals swap at once, between two
        batches; its alerts are routed again (groups that still exist keep their timers
        and notification log)."""
        self._route(tenant, config, now)
        self.persist_dispatch()
        self.stores.checkpoint.commit_batch()

    def _route(self, tenant: str | None, config: PipelinesConfig, now: float) -> None:
        root = Route.from_config(config.route)
        alerts = [(p, a) for p, s in self.alert_sets.items() for a in s.alerts.values()]
        self.dispatcher.set_routes(tenant, root, alerts, now)
        self.suppressor.set_tenant(tenant, config, root, [a for _, a in alerts])
        owner = tenant or ""
        self._integrations = {
            k: v for k, v in self._integrations.items() if tenant is not None and k[0] != owner
        }

    def attach_incidents(self, stage: IncidentStage) -> None:
        """Correlate alerts into incidents (``agents/incidents.py``), in every batch."""
        self.incidents = stage
        self.dispatcher.incident_of = stage.correlator.incident_of

    # --- partitions ---------------------------------------------------------------------
    def bind(self, topic: str) -> None:
        """Own the partitions of the alerts topic: load each one's state from RocksDB
        when it is first needed after assignment, drop it on revocation."""
        self.owned = OwnedPartitions(topic, self._load, self._drop)

    def ready(self) -> bool:
        return self.owned.ready() and self.suppressor.ready and self.configs.ready

    def ensure(self, partition: int) -> None:
        self.owned.ensure(partition)

    def sync(self) -> set[int]:
        """Load newly assigned partitions, drop revoked ones; returns those owned now."""
        return self.owned.sync()

    @property
    def loaded(self) -> set[int]:
        return self.owned.loaded

    def _load(self, partition: int) -> None:
        """Rebuild one partition's alerts, groups and notification log from RocksDB."""
        alerts = self.alert_sets[partition]
        for _, data in self.stores.alerts.items(partition):
            alerts.load(Alert(**data))
        for _, data in self.stores.groups.items(partition):
            self.dispatcher.load_group(Group.from_wire(data))
        for key, data in self.stores.nflog.items(partition):
            self.nflog.load(key, partition, data)
        restored = list(alerts.alerts.values())
        now = time.time()
        if self.incidents is not None:  # before routing: notify_by: incident reads them
            self.incidents.load(partition)
        self.dispatcher.add(restored, partition, now)
        self.dispatcher.drain()  # routing them again rewrites nothing
        for a in restored:
            self.partition_of[a.tenant] = partition
            if a.status == FIRING:
                self.active_count[a.tenant] += 1
        self.suppressor.observe(restored)
        log.info(
            "partition %d: %d alerts, %d groups, %d log entries restored",
            partition,
            len(alerts),
            len(self.dispatcher),
            len(self.nflog),
        )

    def _drop(self, partition: int) -> None:
        gone = self.alert_sets.pop(partition, None)
        if gone is not None:
            for tenant in {a.tenant for a in gone.alerts.values()}:
                self.active_count.pop(tenant, None)
            for fp in gone.alerts:
                self.suppressor.forget(fp)
        self.dispatcher.forget_partition(partition)
        if self.incidents is not None:
            self.incidents.forget(partition)
        self.nflog.forget_partition(partition)

    # --- ingest -------------------------------------------------------------------------
    async def ingest_record(
        self, partition: int, key: bytes | None, raw: bytes, now: float
    ) -> None:
        """One record of the `alerts` topic: decode, validate, cap, merge, route."""
        self.ensure(partition)
        tenant = key.decode() if key else None
        try:
            good, bad = parse_alerts(raw, tenant, now)
        except WireError as exc:
            self.ingested.add(0, 1)
            await dead_letters("alerts", key, [raw_reject(raw, str(exc))])
            return
        self.ingested.add(len(good), len(bad))
        await dead_letters("alerts", key, bad)
        if self.personal is not None:  # personal label values become pseudonyms
            good = await self.personal(partition, good)
        if self.priority is not None:  # producers' and rules' alerts alike
            self.priority.apply(good)
        if self.limits.max_active_alerts:
            good = await self._cap(partition, key, good)
        changed, stale = self.alert_sets[partition].merge(good, now)
        self._persist_alerts(partition, stale)
        self.ingest(partition, changed, now)
        self.stores.checkpoint.commit_batch()

    def ingest(self, partition: int, changed: list[Alert], now: float) -> None:
        """Persist, observe and route the alerts whose state changed."""
        if not changed:
            return
        self._persist_alerts(partition, changed)
        active = self.active_count
        for a in changed:
            active[a.tenant] += 1 if a.status == FIRING else -1
            self.partition_of[a.tenant] = partition
        if self.flaps is not None:
            self._flapping(partition, changed, now)
        self.suppressor.observe(changed)
        if self.incidents is not None:  # in this batch, before routing (notify_by)
            self.incidents.observe(partition, changed, now)
        self.dispatcher.add(changed, partition, now)
        self.persist_dispatch()
        self._alert_history(partition, changed, now)

    async def _cap(self, partition: int, key: bytes | None, good: list[Alert]) -> list[Alert]:
        """Per-tenant max_active_alerts: new firing alerts past the cap go to dlq, counted."""
        cap = self.limits.max_active_alerts
        known = self.alert_sets[partition].alerts
        added: defaultdict[str, int] = defaultdict(int)
        keep: list[Alert] = []
        over: list[tuple[dict, str]] = []
        for a in good:
            old = known.get(a.fingerprint)
            if a.status == FIRING and (old is None or old.status != FIRING):
                if self.active_count[a.tenant] + added[a.tenant] >= cap:
                    reason = f"limit: max_active_alerts {cap} reached for tenant {a.tenant}"
                    over.append((a.to_wire(), reason))
                    self.limit_stats[a.tenant]["alerts_rejected"] += 1
                    continue
                added[a.tenant] += 1
            keep.append(a)
        if over:
            await dead_letters("limits", key, over)
        return keep

    def _flapping(self, partition: int, changed: list[Alert], now: float) -> None:
        assert self.flaps is not None
        events = 0
        for a in changed:
            event, _ = self.flaps.observe(a.fingerprint, a.status, now)
            if event is not None and event.kind == FLAPPING:
                self.flap_pinned.add(a.fingerprint)
                self.nflog.forget_firing(partition, {a.fingerprint})
                self.limit_stats[a.tenant]["flapping_alerts"] += 1
                events += 1
        if events:
            log.info("partition %d: %d alerts started flapping", partition, events)

    # --- flush --------------------------------------------------------------------------
    async def flush(self, now: float) -> list[Notification]:
        """One timer pass: expire alerts, flush due groups through the notify pipeline,
        send, and drop what is done with."""
        if not self.ready():
            return []
        for partition in self.sync():
            self.ingest(partition, self.alert_sets[partition].expire(now), now)
        if self.flaps is not None:
            for event in self.flaps.tick(now):
                self.flap_pinned.discard(event.fingerprint)
        due = self._not_waiting(self.dispatcher.due(now), now)
        out: list[Notification] = []
        decided: set[str] = set()
        if due:
            flushes = [GroupFlush(g, self.dispatcher.route_of(g)) for g in due]
            self.pipeline.process(flushes, now)
            out = notifications(flushes)
            for f in flushes:
                self.dispatcher.flushed(f.group, f.shown, self.flap_pinned)
            decided = self.nflog.drain()
            rejected = self.rate_limit.drain()
            if rejected:
                await self._reject_notifications(rejected, now)
        released, self.dispatcher.released = self.dispatcher.released, []
        self.persist_dispatch()
        if out:
            for n in out:
                log.info(
                    "notify %s %s/%s: %s",
                    n.id,
                    n.receiver,
                    n.channel,
                    n.reason,
                    extra={"tenant": n.tenant, "group_key": n.group_key, "notification": n.id},
                )
            self._send(out)
            self._notification_history(flushes, now)
            for f in flushes:
                ids = [s.notification.id for s in f.sends if s.notification is not None]
                self.inflight.sent(f.group.id, ids, now)
            # what was notified is logged, and what is done with is deleted, only once
            # the notifications are in Kafka: a kill -9 in between notifies again (the
            # same id, which the senders' delivered table drops); it never loses one
            await self.stores.checkpoint.delivered()
        self._persist_log(decided)
        if due:
            for observe in self.observers:  # escalation chains (agents/escalation.py)
                observe(flushes, now)
        self._release(released, now)
        self.stores.checkpoint.commit_batch()
        return out

    def _not_waiting(self, due: list[Group], now: float) -> list[Group]:
        """Due groups, less those whose last notifications the senders have not settled:
        those are due again at the next tick (Alertmanager starts a group's interval
        once its previous notification is sent, see ``models/notify/inflight.py``)."""
        busy = self.inflight.busy
        ready = [g for g in due if not busy(g.id, now)]
        if len(ready) < len(due):
            for g in due:
                if busy(g.id, now):
                    self.dispatcher.postpone(g, now)
        return ready

    def _release(self, released: list[tuple[int, Alert]], now: float) -> None:
        """Resolved alerts that no group holds any more are done with."""
        for partition, alert in released:
            alerts = self.alert_sets.get(partition)
            if alerts is None or alerts.alerts.get(alert.fingerprint) is not alert:
                continue
            if alert.resolved_at(now):
                alerts.drop(alert.fingerprint)
                self.suppressor.forget(alert.fingerprint)
                if self.flaps is not None:
                    self.flap_pinned.discard(alert.fingerprint)
                self.stores.alerts.delete(partition, alert.fingerprint)
                self._trim_history(partition, alert)

    def _send(self, out: list[Notification]) -> None:
        by_topic: defaultdict[tuple[str, str], list[bytes]] = defaultdict(list)
        for n in out:
            by_topic[(n.channel, n.tenant)].append(encode_bounded(n))
        produce = self.stores.checkpoint.produce_encoded
        for (channel, tenant), encoded in by_topic.items():
            topic = notification_topics[channel].get_topic_name()
            if self.traces is None:
                produce(topic, tenant.encode(), encoded, bulk=True)
                continue
            with batch_span(
                "alertstream.flush",
                self.traces.context(tenant),
                SpanKind.PRODUCER,
                tenant=tenant,
                channel=channel,
                notifications=len(encoded),
            ):
                produce(topic, tenant.encode(), encoded, bulk=True, headers=headers_now())

    async def _reject_notifications(self, rejected: list[Notification], now: float) -> None:
        cap = self.limits.max_notifications_per_minute
        by_tenant: defaultdict[str, list[dict]] = defaultdict(list)
        for n in rejected:
            reason = f"limit: max_notifications_per_minute {cap} reached for tenant {n.tenant}"
            by_tenant[n.tenant].append(dead_letter("limits", reason, n.to_wire(), now))
        for tenant, items in by_tenant.items():
            sealed = await sealed_letters(tenant.encode(), items)
            await send_batch(dlq_topic, tenant.encode(), sealed)

    # --- persistence --------------------------------------------------------------------
    def _persist_alerts(self, partition: int, alerts: Iterable[Alert]) -> None:
        put = self.stores.alerts.put
        for a in alerts:
            put(partition, a.fingerprint, a.to_wire())

    def persist_dispatch(self) -> None:
        groups, deleted = self.dispatcher.drain()
        for g in groups:
            self.stores.groups.put(g.partition, g.id, g.to_wire())
        for gid, partition in deleted.items():
            self.stores.groups.delete(partition, gid)
            for key in self.nflog.remove_group(gid):
                self.stores.nflog.delete(partition, key)
        self._persist_log(self.nflog.drain())

    def _persist_log(self, keys: set[str]) -> None:
        for partition, key, entry in self.nflog.snapshot(keys):
            self.stores.nflog.put(partition, key, entry)

    # --- history ------------------------------------------------------------------------
    # One table entry per event, keyed "<fingerprint>/<time><seq>" (sortable), so
    # recording an event is a write without a read; ``history`` reads the prefix, and a
    # released alert's history is trimmed to the tenant's retention.history_events.
    def _remember(self, partition: int, fingerprint: str, event: dict, now: float) -> None:
        self._seq = (self._seq + 1) % 4096
        key = f"{fingerprint}/{int(now * 1e6):014x}{self._seq:03x}"
        self.stores.history.put(partition, key, event)

    def history(self, fingerprint: str) -> list[dict]:
        """The alert's recorded events, oldest first (from the partitions owned here)."""
        out: list[dict] = []
        for partition in sorted(self.loaded):
            out.extend(v for _, v in self.stores.history.scan(partition, fingerprint + "/"))
        return out[-self.config.retention.history_events :]

    def _trim_history(self, partition: int, alert: Alert) -> None:
        keep = self.config_for(alert.tenant).retention.history_events
        keys = [k for k, _ in self.stores.history.scan(partition, alert.fingerprint + "/")]
        for key in keys[:-keep]:
            self.stores.history.delete(partition, key)

    def _alert_history(self, partition: int, changed: list[Alert], now: float) -> None:
        by_tenant: defaultdict[str, list[dict]] = defaultdict(list)
        for a in changed:
            by_tenant[a.tenant].append(
                {
                    "kind": "alert",
                    "fingerprint": a.fingerprint,
                    "status": a.status,
                    "at": now,
                    "labels": a.labels,
                }
            )
            self._remember(
                partition, a.fingerprint, {"kind": "alert", "status": a.status, "at": now}, now
            )
        topic = history_topic.get_topic_name()
        for tenant, items in by_tenant.items():
            self.stores.checkpoint.produce(topic, tenant.encode(), items)

    def _notification_history(self, flushes: list[GroupFlush], now: float) -> None:
        """One topic event per notification, naming the alerts it told something new
        about (newly firing, newly resolved, against the integration's previous log
        entry); the same per alert in the table. O(news), not O(group), per notification."""
        by_tenant: defaultdict[str, list[dict]] = defaultdict(list)
        empty: frozenset[str] = frozenset()
        for f in flushes:
            partition, members = f.group.partition, f.group.members
            for s in f.sends:
                n = s.notification
                if n is None:
                    continue
                base = {
                    "kind": "notification",
                    "id": n.id,
                    "receiver": n.receiver,
                    "channel": n.channel,
                    "reason": n.reason,
                    "at": now,
                }
                before_firing = s.entry.firing if s.entry else empty
                before_resolved = s.entry.resolved if s.entry else empty
                new_firing = sorted(s.firing - before_firing)
                new_resolved = sorted(s.resolved - before_resolved)
                by_tenant[n.tenant].append(
                    {
                        **base,
                        "group_key": n.group_key,
                        "alerts": len(n.alerts),
                        "new_firing": new_firing,
                        "new_resolved": new_resolved,
                    }
                )
                for fp, status in [(fp, FIRING) for fp in new_firing] + [
                    (fp, RESOLVED) for fp in new_resolved
                ]:
                    if fp in members:
                        self._remember(partition, fp, {**base, "status": status}, now)
        topic = history_topic.get_topic_name()
        for tenant, items in by_tenant.items():
            self.stores.checkpoint.produce(topic, tenant.encode(), items)

    # --- reads for the API --------------------------------------------------------------
    def live_alerts(self) -> Iterable[Alert]:
        for alerts in list(self.alert_sets.values()):
            yield from list(alerts.alerts.values())

    def group_alerts(self, tenant: str, group_key: str | None, fp: str | None) -> list[Alert]:
        """The alerts of a group (by key) or the one alert (by fingerprint) of a tenant."""
        if fp:
            partition = self.partition_of.get(tenant)
            alerts = self.alert_sets.get(partition) if partition is not None else None
            a = alerts.alerts.get(fp) if alerts is not None else None
            return [a] if a is not None else []
        members: dict[str, Alert] = {}
        for g in self.dispatcher.groups_with_key(tenant, group_key or ""):
            members.update(g.members)
        return [members[f] for f in sorted(members)]
