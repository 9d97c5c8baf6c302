"""Anomaly rules without Kafka: one alert per spike, resolve, restore without re-warm-up."""

from __future__ import annotations

import math
import random

import orjson

from app.config.rules import AnomalyRule
from models.rules.anomaly import AnomalyEvaluator
from models.rules.sample import Sample

RULE = AnomalyRule.model_validate(
    {
        "kind": "anomaly",
        "alert": "LatencyAnomaly",
        "metric": "latency",
        "warmup": 150,
        "annotations": {"summary": "latency {{ value }} outside {{ lower | round(1) }}"},
    }
).to_spec()


def series(n: int, start: float = 0.0, seed: int = 1) -> list[Sample]:
    rng = random.Random(seed)
    return [
        Sample(
            tenant="acme",
            name="latency",
            labels={"svc": "api"},
            value=100 + 10 * math.sin(i / 20) + rng.gauss(0, 2),
            ts=start + 60 * i,
        )
        for i in range(n)
    ]


def test_one_alert_per_spike_then_resolved():
    ev = AnomalyEvaluator([RULE])
    assert ev.add(series(400), now=0) == []
    spike = [
        Sample(tenant="acme", name="latency", labels={"svc": "api"}, value=400.0, ts=400 * 60.0)
    ]
    fired = ev.add(spike, now=0)
    assert [a.status for a in fired] == ["firing"]
    assert float(fired[0].annotations["anomaly_score"]) >= RULE.threshold
    assert "expected_range" in fired[0].annotations
    after = ev.add(series(60, start=401 * 60.0, seed=2), now=0)
    assert [a.status for a in after] == ["resolved"]
    assert after[0].fingerprint == fired[0].fingerprint


def test_out_of_order_and_duplicate_points_are_skipped():
    ev = AnomalyEvaluator([RULE])
    points = series(10)
    ev.add(points, now=0)
    ev.add([points[3], points[9]], now=0)
    assert ev.skipped == 2
    assert ev.scored == 10  # rule evaluations (/metrics): the points scored, not skipped
    assert next(iter(ev.series.values())).seen == 10


def test_restored_series_continues_without_warm_up():
    ev = AnomalyEvaluator([RULE])
    ev.add(series(400), now=0)
    [(key, state)] = ev.series.items()
    restored = AnomalyEvaluator([RULE])
    restored.restore(key, orjson.loads(orjson.dumps(state.to_wire())))
    assert restored.series[key].seen == 400
    spike = [
        Sample(tenant="acme", name="latency", labels={"svc": "api"}, value=400.0, ts=400 * 60.0)
    ]
    assert [a.status for a in restored.add(spike, now=0)] == ["firing"]
