"""The metrics agent: ingest samples, fold them into rule windows, emit rule alerts.

Consumes `metrics` (one record = one sample or a batch), validates each sample (bad
ones go to `dlq` with the reason), folds the good ones into the open windows of the
threshold rules, and on a timer closes due windows: the resulting firing/resolved
alerts go to the `alerts` topic, where they take the same path as producers' alerts.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

import orjson

from agents.dlq import dead_letters, raw_reject
from agents.partitions import OwnedPartitions
from app.faust_app import alerts_topic, app, metrics_topic
from app.pipeline import pipeline_config
from app.settings import settings
from models.rules import RuleEvaluator, SeriesKey, SeriesState
from models.sample import Sample, parse_many
from models.wire import WireError, decode_batch
from tables import rule_state

log = logging.getLogger(__name__)

evaluator = RuleEvaluator(r for r in pipeline_config().rules if r.kind == "threshold")
partition_of_tenant: dict[str, int] = {}
stats = {"samples": 0, "rejected": 0, "matched": 0}


def _state_key(key: SeriesKey) -> str:
    return orjson.dumps(key).decode()


def _load(partition: int) -> None:
    restored = []
    for raw_key, data in rule_state.items(partition):
        tenant, rule, labels = orjson.loads(raw_key)
        partition_of_tenant[tenant] = partition
        restored.append(((tenant, rule, tuple(map(tuple, labels))), SeriesState.from_wire(data)))
    evaluator.restore(restored)


def _drop(partition: int) -> None:
    gone = {t for t, p in partition_of_tenant.items() if p == partition}
    evaluator.forget_tenants(lambda tenant: tenant not in gone)


owned = OwnedPartitions(metrics_topic.get_topic_name(), _load, _drop)


@app.agent(metrics_topic)
async def ingest_metrics(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        partition = event.message.partition
        owned.ensure(partition)
        now = time.time()
        try:
            items = decode_batch(event.value)
        except WireError as exc:
            stats["rejected"] += 1
            await dead_letters("metrics", event.key, [raw_reject(event.value, str(exc))])
            continue
        tenant = event.key.decode() if event.key else None
        samples, bad = parse_many(Sample, items, tenant, now)
        stats["samples"] += len(samples)
        stats["rejected"] += len(bad)
        await dead_letters("metrics", event.key, bad)
        for s in samples:
            partition_of_tenant[s.tenant] = partition
        stats["matched"] += evaluator.add(samples, now)


@app.timer(settings.tick)
async def close_windows() -> None:
    if not owned.ready():
        return
    owned.sync()
    alerts, changed = evaluator.close(time.time())
    for key, state in changed.items():
        partition = partition_of_tenant.get(key[0])
        if partition is None:
            continue
        if state.pending_since or state.firing:
            rule_state.put(partition, _state_key(key), state.to_wire())
        else:
            rule_state.delete(partition, _state_key(key))
    by_tenant: dict[str, list[dict]] = defaultdict(list)
    for alert in alerts:
        by_tenant[alert.tenant].append(alert.to_wire())
    for tenant, items in by_tenant.items():
        await alerts_topic.send(key=tenant.encode(), value=orjson.dumps(items))
