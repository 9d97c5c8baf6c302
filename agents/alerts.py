"""The alerts agent: dedup by fingerprint, lifecycle, routing into groups, and notify.

Consumes `alerts` (from producers, the HTTP API and rule evaluation), keeps the
active alerts of its partitions in memory in front of the `alerts` table, writes
only on state transitions, and on a timer flushes due groups through the notify
pipeline (mutes, then dedup against the notification log) to `notifications.<channel>`.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

import orjson

from agents.dlq import dead_letters, raw_reject
from agents.partitions import OwnedPartitions
from agents.suppression import suppressor
from app.faust_app import alerts_topic, app, history_topic, notification_topics
from app.pipeline import pipeline_config
from app.settings import settings
from models.alert import Alert
from models.dispatch import Dispatcher, Group, Integration
from models.notification import Notification
from models.routing import Route
from models.sample import parse_many
from models.wire import WireError, decode_batch
from tables import active_alerts
from tables import alerts as alerts_table
from tables import groups as groups_table
from tables import nflog as nflog_table

log = logging.getLogger(__name__)


def _integrations(receiver: str) -> list[Integration]:
    config = pipeline_config().receiver(receiver)
    return [
        Integration(receiver, kind, index, bool(getattr(cfg, "send_resolved", True)))
        for kind, index, cfg in config.integrations()
    ]


alert_sets = active_alerts
dispatcher = Dispatcher(
    Route.from_config(pipeline_config().route),
    _integrations,
    settings.external_url,
    suppressor.route_muted,
)


def _load(partition: int) -> None:
    """Rebuild one partition's active alerts, groups and notification log from RocksDB."""
    alerts = alert_sets[partition]
    for _, data in alerts_table.items(partition):
        alerts.load(Alert(**data))
    for _, data in groups_table.items(partition):
        dispatcher.load_group(Group.from_wire(data))
    for key, data in nflog_table.items(partition):
        dispatcher.load_log(key, partition, data)
    suppressor.observe(list(alerts.alerts.values()))
    log.info(
        "partition %d: %d alerts, %d groups, %d log entries restored",
        partition,
        len(alerts),
        len(dispatcher.groups),
        len(dispatcher.nflog),
    )


def _drop(partition: int) -> None:
    alert_sets.pop(partition, None)
    dispatcher.forget_partitions(lambda p: p != partition)


owned = OwnedPartitions(alerts_topic.get_topic_name(), _load, _drop)


def _persist(partition: int, changed: list[Alert]) -> None:
    for alert in changed:
        alerts_table.put(partition, alert.fingerprint, alert.to_wire())


def _persist_dispatch() -> None:
    for gid in dispatcher.dirty_groups:
        group = dispatcher.groups[gid]
        groups_table.put(group.partition, gid, group.to_wire())
    for gid in dispatcher.deleted_groups:
        partition = dispatcher.deleted_partition.pop(gid, None)
        if partition is not None:
            groups_table.delete(partition, gid)
    for key in dispatcher.dirty_nflog:
        partition, entry = dispatcher.log_entry(key)
        nflog_table.put(partition, key, entry)
    dispatcher.dirty_groups.clear()
    dispatcher.deleted_groups.clear()
    dispatcher.dirty_nflog.clear()


async def _history(changed: list[Alert], now: float) -> None:
    by_tenant: dict[str, list[dict]] = defaultdict(list)
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
    for tenant, items in by_tenant.items():
        await history_topic.send(key=tenant.encode(), value=orjson.dumps(items))


async def ingest(partition: int, changed: list[Alert], now: float) -> None:
    """Persist, observe and route the alerts whose state changed."""
    if not changed:
        return
    _persist(partition, changed)
    suppressor.observe(changed)
    dispatcher.add(changed, partition, now)
    _persist_dispatch()
    await _history(changed, now)


@app.agent(alerts_topic)
async def process_alerts(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        partition = event.message.partition
        owned.ensure(partition)
        key = event.key
        now = time.time()
        try:
            items = decode_batch(event.value)
        except WireError as exc:
            await dead_letters("alerts", key, [raw_reject(event.value, str(exc))])
            continue
        tenant = key.decode() if key else None
        good, bad = parse_many(Alert, items, tenant, now)
        await dead_letters("alerts", key, bad)
        changed, stale = alert_sets[partition].merge(good, now)
        _persist(partition, stale)
        await ingest(partition, changed, now)


def _lookup(partition: int, fingerprint: str) -> Alert | None:
    return alert_sets[partition].alerts.get(fingerprint)


async def send_notifications(notifications: list[Notification]) -> None:
    by_topic: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for n in notifications:
        by_topic[(n.channel, n.tenant)].append(n.to_wire())
    for (channel, tenant), items in by_topic.items():
        await notification_topics[channel].send(key=tenant.encode(), value=orjson.dumps(items))


@app.timer(settings.tick)
async def flush_groups() -> None:
    if not owned.ready():
        return
    now = time.time()
    for partition in owned.sync():
        await ingest(partition, alert_sets[partition].expire(now), now)
    notifications = dispatcher.flush(now, _lookup, suppressor.mutes)
    # the log is written before the send completes: at-most-once within the worker, and
    # a crash in between re-sends the same notification id, which receivers can drop
    _persist_dispatch()
    if notifications:
        for n in notifications:
            log.info("notify %s %s/%s: %s", n.id, n.receiver, n.channel, n.reason)
        await send_notifications(notifications)
    # resolved alerts that no group holds any more are done with
    for partition, fp in dispatcher.released:
        alert = alert_sets[partition].alerts.get(fp)
        if alert is not None and alert.resolved_at(now):
            alert_sets[partition].drop(fp)
            suppressor.forget(fp)
            alerts_table.delete(partition, fp)
    dispatcher.released.clear()
