"""The metrics agent: ingest samples, evaluate rules, emit rule alerts.

Consumes `metrics` (one record = one sample or a batch), validates each sample (bad
ones go to `dlq` with the reason) and hands the good ones to the windowed rules
(threshold, auto threshold, predict: folded into windows, judged when a timer closes
them) and to the anomaly rules (scored per sample).  The resulting firing/resolved
alerts go to the `alerts` topic, where they take the same path as producers' alerts.
Learned per-series models are checkpointed to the `series_models` table.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import orjson

from agents.continuity import OffsetGuard
from agents.dlq import dead_letters, raw_reject
from agents.partitions import OwnedPartitions
from app.config.schema import PipelinesConfig
from app.config.tenants import TenantConfigs
from app.faust_app import alerts_topic, app, metrics_topic, send_batch
from app.pipeline import pipeline_config
from app.settings import settings
from models.alerting.alert import Alert
from models.detectors.base import State
from models.detectors.forecast import Forecaster
from models.detectors.threshold import AutoThreshold
from models.rules.anomaly import AnomalyEvaluator
from models.rules.composite import CompositeEvaluator, leaf_specs
from models.rules.evaluator import RuleEvaluator, SeriesKey, SeriesState
from models.rules.sample import SampleDecoder
from models.tracing import TenantTraces, batch_span, input_span
from models.wire import WireError
from tables import offsets, rule_state, series_models

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = float(os.environ.get("ALERTSTREAM_CHECKPOINT_EVERY", "30"))
"""Seconds between checkpoints of learned models (state transitions are written at once)."""

_specs = [r.to_spec() for r in pipeline_config().rules]
_rules = leaf_specs(_specs)  # with the composites' inline conditions
_WINDOWED = ("threshold", "predict")
evaluator = RuleEvaluator(r for r in _rules if r.kind in _WINDOWED)
anomaly = AnomalyEvaluator(r for r in _rules if r.kind == "anomaly")
composite = CompositeEvaluator(
    (s for s in _specs if s.kind == "composite"), {s.alert: s for s in _rules}
)
decoder = SampleDecoder()
_anomaly_rules = {r.alert for r in _rules if r.kind == "anomaly"}
partition_of_tenant: dict[str, int] = {}
stats = {"samples": 0, "rejected": 0, "matched": 0}
_last_checkpoint = [time.monotonic()]
guard = OffsetGuard(app, offsets, settings.broker)  # records the consumer skipped
_configs: list[TenantConfigs] = []  # set by ``follow``: ingest waits until it is ready
_retired: list[Alert] = []  # resolved alerts of rules a config swap removed, sent next tick
_traces = TenantTraces() if settings.otlp_endpoint else None  # tracing on: per tenant


def follow(configs: TenantConfigs) -> None:
    """Evaluate each tenant with its own rules, swapped when its config changes."""
    _configs.append(configs)
    configs.subscribe(_swap_rules)
    for tenant in configs.tenants():  # the tenant files
        _swap_rules(tenant, configs.config_for(tenant), time.time())


def _swap_rules(tenant: str | None, config: PipelinesConfig, now: float) -> None:
    """A tenant's rules changed: unchanged rules keep their windows and learned models
    (``RuleEvaluator.set_rules``); the dropped series' stored state is deleted."""
    own = [r.to_spec() for r in config.rules]
    fired3, dropped3 = composite.set_rules(tenant, own, now)
    specs = leaf_specs(own)
    _anomaly_rules.update(r.alert for r in specs if r.kind == "anomaly")
    fired, dropped = evaluator.set_rules(tenant, [r for r in specs if r.kind in _WINDOWED], now)
    fired2, dropped2 = anomaly.set_rules(tenant, [r for r in specs if r.kind == "anomaly"], now)
    _retired.extend(composite.observe(fired + fired2, now) + fired3)
    for key in dropped | dropped2 | dropped3:
        partition = partition_of_tenant.get(key[0])
        if partition is not None:
            rule_state.delete(partition, _key(key))
            series_models.delete(partition, _key(key))


def _key(key: SeriesKey) -> str:
    return orjson.dumps(key).decode()


def _series_key(raw: str) -> SeriesKey:
    tenant, rule, labels = orjson.loads(raw)
    return tenant, rule, tuple(map(tuple, labels))


def _load(partition: int) -> None:
    restored = []
    for raw_key, data in rule_state.items(partition):
        key = _series_key(raw_key)
        partition_of_tenant[key[0]] = partition
        restored.append((key, SeriesState.from_wire(data)))
    evaluator.restore(r for r in restored if not composite.owns(r[0]))
    now = time.time()
    for key, state in restored:  # composites' own states, and their members
        composite.restore(key, state, now)
    models = 0
    for raw_key, data in series_models.items(partition):
        key = _series_key(raw_key)
        partition_of_tenant[key[0]] = partition
        if key[1] in _anomaly_rules:
            anomaly.restore(key, data)
            composite.restore(key, SeriesState(firing=anomaly.series[key].firing), now)
        else:
            evaluator.models[key] = State.from_state(data)
        models += 1
    log.info("partition %d: %d rule states, %d models restored", partition, len(restored), models)


def _drop(partition: int) -> None:
    gone = {t for t, p in partition_of_tenant.items() if p == partition}
    evaluator.forget_tenants(lambda tenant: tenant not in gone)
    anomaly.forget_tenants(lambda tenant: tenant not in gone)
    composite.forget_tenants(lambda tenant: tenant not in gone)


owned = OwnedPartitions(metrics_topic.get_topic_name(), _load, _drop)


async def _emit(alerts: list[Alert]) -> None:
    by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for alert in alerts:
        by_tenant[alert.tenant].append(alert.to_wire())
    for tenant, items in by_tenant.items():
        if _traces is None:
            await send_batch(alerts_topic, tenant.encode(), items)
            continue
        # the rule alerts continue the trace of the tenant's last samples
        with batch_span("alertstream.rules", _traces.context(tenant), tenant=tenant):
            await send_batch(alerts_topic, tenant.encode(), items)


async def _ingest(partition: int, key: bytes | None, value: bytes | None) -> None:
    owned.ensure(partition)
    now = time.time()
    tenant = key.decode() if key else None
    try:
        samples, bad = decoder.decode(value, tenant, now)
    except WireError as exc:
        stats["rejected"] += 1
        await dead_letters("metrics", key, [raw_reject(value, str(exc))])
        return
    stats["samples"] += len(samples)
    if bad:
        stats["rejected"] += len(bad)
        await dead_letters("metrics", key, bad)
    for t in {s.tenant for s in samples}:
        partition_of_tenant[t] = partition
    stats["matched"] += evaluator.add(samples, now)
    if anomaly.active:
        alerts = anomaly.add(samples, now)
        if alerts:  # a firing/resolved transition is written at once
            _checkpoint_anomaly(anomaly.transitions)
            anomaly.transitions.clear()
            await _emit(composite.observe(alerts, now))


@app.agent(metrics_topic)
async def ingest_metrics(stream):  # type: ignore[no-untyped-def]
    while _configs and not _configs[0].ready:  # tenants' own rules are not known yet
        await asyncio.sleep(0.1)
    name = metrics_topic.get_topic_name()
    async for event in stream.events():
        await _handle(name, event.message)


async def _handle(name: str, message: Any) -> None:
    partition = message.partition
    for r in await guard.records(name, message):
        with input_span(_traces, "alertstream.metrics", r.key, r.headers):
            await _ingest(partition, r.key, r.value)
    guard.handled(name, partition, message.offset)


def observe_rule_alerts(
    alerts: list[Alert], partitions: Mapping[str, int], now: float
) -> list[Alert]:
    """Other agents' rule alerts (event rules) seen by the composites, which may read
    them; returns those to send on. ``partitions`` maps their tenants to partitions,
    where the composites' own state of those tenants is written."""
    for alert in alerts:
        p = partitions.get(alert.tenant)
        if p is not None:
            partition_of_tenant.setdefault(alert.tenant, p)
    return composite.observe(alerts, now)


def _checkpoint_anomaly(keys: set[SeriesKey]) -> None:
    for key in keys:
        partition = partition_of_tenant.get(key[0])
        series = anomaly.series.get(key)
        if partition is not None and series is not None:
            series_models.put(partition, _key(key), series.to_wire())


def _checkpoint() -> None:
    """Write the models that learned since the last checkpoint (coalesced writes)."""
    for key in evaluator.dirty_models:
        partition = partition_of_tenant.get(key[0])
        model = evaluator.models.get(key)
        if partition is not None and model is not None:
            series_models.put(partition, _key(key), model.to_state())
    _checkpoint_anomaly(anomaly.dirty)
    evaluator.dirty_models.clear()
    anomaly.dirty.clear()


@app.timer(settings.tick)
async def close_windows() -> None:
    if not owned.ready() or (_configs and not _configs[0].ready):
        return  # restored state is loaded only once the tenants' own rules are known
    owned.sync()
    now = time.time()
    alerts, changed = evaluator.close(now)
    alerts = composite.observe(alerts, now)  # composites read the rules' alerts
    judged, judged_changed = composite.evaluate(now)
    alerts += judged
    changed.update(judged_changed)
    for key, state in changed.items():
        partition = partition_of_tenant.get(key[0])
        if partition is None:
            continue
        if state.pending_since or state.firing:
            rule_state.put(partition, _key(key), state.to_wire())
        else:
            rule_state.delete(partition, _key(key))
    if time.monotonic() - _last_checkpoint[0] >= CHECKPOINT_EVERY:
        _checkpoint()
        _last_checkpoint[0] = time.monotonic()
    if _retired:
        alerts = alerts + _retired
        _retired.clear()
    if alerts:
        await _emit(alerts)


def _describe(key: SeriesKey, model: Any, now: float) -> dict[str, Any]:
    """What a learned model currently believes."""
    out: dict[str, Any] = {"rule": key[1], "labels": dict(key[2]), "model": type(model).__name__}
    if isinstance(model, AutoThreshold):
        band = model.band(now)
        out["band"] = list(band) if band else None
    elif isinstance(model, Forecaster):
        out["slope_per_hour"] = model.slope * 3600
        out["forecast_in_1h"] = model.forecast(now + 3600)
    return out


def learned_models(tenant: str, now: float) -> list[dict[str, Any]]:
    """What this worker's learned models believe for one tenant: auto-threshold bands,
    forecasts, anomaly detectors' expected ranges (served by ``GET /api/v1/models``)."""
    out = [_describe(k, m, now) for k, m in list(evaluator.models.items()) if k[0] == tenant]
    for key, series in list(anomaly.series.items()):
        if key[0] == tenant:
            expected = series.model.expected_range()
            out.append(
                {
                    "rule": key[1],
                    "labels": dict(key[2]),
                    "model": type(series.model).__name__,
                    "points": series.seen,
                    "expected_range": list(expected) if expected else None,
                    "firing": series.firing,
                }
            )
    return out
