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
from dataclasses import replace

from agents.dlq import dead_letters, raw_reject
from agents.partitions import OwnedPartitions
from agents.suppression import suppressor
from app.faust_app import (
    alerts_topic,
    app,
    dlq_topic,
    history_topic,
    notification_topics,
    send_batch,
)
from app.pipeline import pipeline_config
from app.settings import settings
from models.alerting.alert import FIRING, Alert
from models.alerting.flapping import FLAPPING, FlapConfig, FlapDetector
from models.notify.dispatch import Dispatcher, Group, Integration
from models.notify.notification import Notification
from models.notify.routing import Route
from models.rules.sample import parse_many
from models.wire import WireError, decode_batch
from tables import active_alerts
from tables import alerts as alerts_table
from tables import groups as groups_table
from tables import history as history_table
from tables import nflog as nflog_table

log = logging.getLogger(__name__)


def _integrations(receiver: str) -> list[Integration]:
    config = pipeline_config().receiver(receiver)
    return [
        Integration(receiver, kind, index, bool(getattr(cfg, "send_resolved", True)))
        for kind, index, cfg in config.integrations()
    ]


alert_sets = active_alerts
_config = pipeline_config()


def _lookup(partition: int, fingerprint: str) -> Alert | None:
    alert = alert_sets[partition].alerts.get(fingerprint)
    if alert is not None and fingerprint in flap_pinned:
        # flapping: held as firing, marked, until stable (our addition)
        return replace(
            alert,
            status=FIRING,
            ends_at=0.0,
            annotations={**alert.annotations, "flapping": "true"},
        )
    return alert


dispatcher = Dispatcher(
    Route.from_config(_config.route),
    _integrations,
    settings.external_url,
    suppressor.route_muted,
    send_resolved_for_muted=_config.send_resolved_for_muted,
    send_resolved_immediately=_config.send_resolved_immediately,
    lookup=_lookup,
)

# --- our additions: flap detection, per-tenant limits ----------------------------------
flaps = (
    FlapDetector(
        FlapConfig(_config.flapping.threshold, _config.flapping.window, _config.flapping.stable_for)
    )
    if _config.flapping
    else None
)
flap_pinned: set[str] = set()  # fingerprints held as firing while they flap
LIMITS = _config.limits
active_count: dict[str, int] = defaultdict(int)  # tenant -> firing alerts
limit_stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
_rate: dict[str, list[float]] = {}  # tenant -> [minute window start, notifications in it]
HISTORY_KEEP = 50  # events kept per fingerprint in the history table


def _load(partition: int) -> None:
    """Rebuild one partition's active alerts, groups and notification log from RocksDB."""
    alerts = alert_sets[partition]
    for _, data in alerts_table.items(partition):
        alerts.load(Alert(**data))
    for _, data in groups_table.items(partition):
        dispatcher.load_group(Group.from_wire(data))
    for key, data in nflog_table.items(partition):
        dispatcher.load_log(key, partition, data)
    dispatcher.restore_members(list(alerts.alerts.values()), partition, time.time())
    for a in alerts.alerts.values():
        if a.status == FIRING:
            active_count[a.tenant] += 1
    suppressor.observe(list(alerts.alerts.values()))
    log.info(
        "partition %d: %d alerts, %d groups, %d log entries restored",
        partition,
        len(alerts),
        len(dispatcher.groups),
        len(dispatcher.nflog),
    )


def _drop(partition: int) -> None:
    gone = alert_sets.pop(partition, None)
    if gone is not None:
        for tenant in {a.tenant for a in gone.alerts.values()}:
            active_count.pop(tenant, None)
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


def _remember(partition: int, events: dict[str, list[dict]]) -> None:
    """Append events to each fingerprint's history in the table: one read and one write
    per fingerprint per batch."""
    for fingerprint, new in events.items():
        past = history_table.get(partition, fingerprint) or []
        history_table.put(partition, fingerprint, (past + new)[-HISTORY_KEEP:])


async def _history(partition: int, changed: list[Alert], now: float) -> None:
    by_tenant: dict[str, list[dict]] = defaultdict(list)
    noted: dict[str, list[dict]] = defaultdict(list)
    for a in changed:
        event = {
            "kind": "alert",
            "fingerprint": a.fingerprint,
            "status": a.status,
            "at": now,
            "labels": a.labels,
        }
        by_tenant[a.tenant].append(event)
        noted[a.fingerprint].append({"kind": "alert", "status": a.status, "at": now})
    _remember(partition, noted)
    for tenant, items in by_tenant.items():
        await send_batch(history_topic, tenant.encode(), items)


_last_noted: dict[str, str] = {}  # fingerprint -> status last recorded as notified


async def _notification_history(notifications: list[Notification], now: float) -> None:
    """One topic event per notification; in the table, a notification is recorded for an
    alert when it tells something new about it (first firing, resolved), so re-sends
    of a growing group cost nothing per alert."""
    by_tenant: dict[str, list[dict]] = defaultdict(list)
    noted: dict[int, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for n in notifications:
        base = {
            "kind": "notification",
            "id": n.id,
            "receiver": n.receiver,
            "channel": n.channel,
            "reason": n.reason,
            "at": now,
        }
        by_tenant[n.tenant].append(
            {
                **base,
                "group_key": n.group_key,
                "firing": [a["fingerprint"] for a in n.alerts if a["status"] == FIRING],
                "resolved": [a["fingerprint"] for a in n.alerts if a["status"] != FIRING],
            }
        )
        partition = _partition_of.get(n.tenant)
        if partition is None:
            continue
        for a in n.alerts:
            fp, status = a["fingerprint"], a["status"]
            if _last_noted.get(fp) != status:
                _last_noted[fp] = status
                noted[partition][fp].append({**base, "status": status})
    for partition, events in noted.items():
        _remember(partition, events)
    for tenant, items in by_tenant.items():
        await send_batch(history_topic, tenant.encode(), items)


_partition_of: dict[str, int] = {}  # tenant -> its partition (seen in this worker)


def _count(changed: list[Alert]) -> None:
    for a in changed:
        active_count[a.tenant] += 1 if a.status == FIRING else -1


def _flapping(partition: int, changed: list[Alert], now: float) -> None:
    assert flaps is not None
    events = 0
    for a in changed:
        event, _ = flaps.observe(a.fingerprint, a.status, now)
        if event is not None and event.kind == FLAPPING:
            flap_pinned.add(a.fingerprint)
            dispatcher.forget_logged_firing(partition, {a.fingerprint})
            limit_stats[a.tenant]["flapping_alerts"] += 1
            events += 1
    if events:
        log.info("partition %d: %d alerts started flapping", partition, events)


async def _cap(partition: int, key: bytes | None, good: list[Alert]) -> list[Alert]:
    """Per-tenant max_active_alerts: new firing alerts past the cap go to dlq, counted."""
    cap = LIMITS.max_active_alerts
    known = alert_sets[partition].alerts
    added: dict[str, int] = defaultdict(int)
    keep: list[Alert] = []
    over: list[tuple[dict, str]] = []
    for a in good:
        old = known.get(a.fingerprint)
        if a.status == FIRING and (old is None or old.status != FIRING):
            if active_count[a.tenant] + added[a.tenant] >= cap:
                over.append(
                    (a.to_wire(), f"limit: max_active_alerts {cap} reached for tenant {a.tenant}")
                )
                limit_stats[a.tenant]["alerts_rejected"] += 1
                continue
            added[a.tenant] += 1
        keep.append(a)
    if over:
        await dead_letters("limits", key, over)
    return keep


async def ingest(partition: int, changed: list[Alert], now: float) -> None:
    """Persist, observe and route the alerts whose state changed."""
    if not changed:
        return
    _persist(partition, changed)
    _count(changed)
    for a in changed:
        _partition_of[a.tenant] = partition
    if flaps is not None:
        _flapping(partition, changed, now)
    suppressor.observe(changed)
    dispatcher.add(changed, partition, now)
    _persist_dispatch()
    await _history(partition, changed, now)


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
        if LIMITS.max_active_alerts:
            good = await _cap(partition, key, good)
        changed, stale = alert_sets[partition].merge(good, now)
        _persist(partition, stale)
        await ingest(partition, changed, now)


async def send_notifications(notifications: list[Notification]) -> None:
    by_topic: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for n in notifications:
        by_topic[(n.channel, n.tenant)].append(n.to_wire())
    for (channel, tenant), items in by_topic.items():
        await send_batch(notification_topics[channel], tenant.encode(), items)


async def _rate_limit(notifications: list[Notification], now: float) -> list[Notification]:
    """Per-tenant max_notifications_per_minute: the excess goes to dlq, counted."""
    cap = LIMITS.max_notifications_per_minute
    keep: list[Notification] = []
    over: dict[str, list[dict]] = defaultdict(list)
    for n in notifications:
        window = _rate.get(n.tenant)
        if window is None or now - window[0] >= 60.0:
            window = _rate[n.tenant] = [now, 0]
        if window[1] >= cap:
            limit_stats[n.tenant]["notifications_rejected"] += 1
            over[n.tenant].append(
                {
                    "source": "limits",
                    "reason": f"limit: max_notifications_per_minute {cap} reached "
                    f"for tenant {n.tenant}",
                    "item": n.to_wire(),
                    "at": now,
                }
            )
            continue
        window[1] += 1
        keep.append(n)
    for tenant, items in over.items():
        await send_batch(dlq_topic, tenant.encode(), items)
    return keep


def _unpin_stable(now: float) -> None:
    assert flaps is not None
    for event in flaps.tick(now):
        flap_pinned.discard(event.fingerprint)


@app.timer(settings.tick)
async def flush_groups() -> None:
    if not owned.ready() or not suppressor.ready:
        return
    now = time.time()
    for partition in owned.sync():
        await ingest(partition, alert_sets[partition].expire(now), now)
    if flaps is not None:
        _unpin_stable(now)
    notifications = dispatcher.flush(now, _lookup, suppressor.mutes)
    if notifications and LIMITS.max_notifications_per_minute:
        notifications = await _rate_limit(notifications, now)
    # the log is written before the send completes: at-most-once within the worker, and
    # a crash in between re-sends the same notification id, which receivers can drop
    _persist_dispatch()
    if notifications:
        for n in notifications:
            log.info("notify %s %s/%s: %s", n.id, n.receiver, n.channel, n.reason)
        await send_notifications(notifications)
        await _notification_history(notifications, now)
    # resolved alerts that no group holds any more are done with
    for partition, fp in dispatcher.released:
        alert = alert_sets[partition].alerts.get(fp)
        if alert is not None and alert.resolved_at(now):
            alert_sets[partition].drop(fp)
            suppressor.forget(fp)
            _last_noted.pop(fp, None)
            alerts_table.delete(partition, fp)
    dispatcher.released.clear()
