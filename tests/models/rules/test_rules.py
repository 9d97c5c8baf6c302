"""Windowed rules without Kafka: static thresholds, auto bands, predictions."""

from __future__ import annotations

import random

from app.config.rules import PredictRule, ThresholdRule
from models.rules.evaluator import RuleEvaluator
from models.rules.sample import Sample
from models.rules.spec import ThresholdSpec


def rule(**kw) -> ThresholdSpec:
    """A threshold rule as pipelines.yaml would say it, built the way the worker builds it."""
    base = {"alert": "HighCpu", "metric": "cpu", "window": "10s", "condition": "> 90"}
    return ThresholdRule.model_validate({**base, **kw}).to_spec()


def feed(
    ev: RuleEvaluator,
    values: list[float],
    start: float,
    step: float = 10.0,
    labels: dict | None = None,
) -> list:
    """One sample per window; each window is closed right after its grace."""
    out = []
    for i, v in enumerate(values):
        ts = start + i * step
        ev.add(
            [Sample(tenant="acme", name="cpu", labels=labels or {"host": "a"}, value=v, ts=ts + 1)],
            ts,
        )
        alerts, _ = ev.close(ts + step + 2.5)
        out.extend(alerts)
    return out


def test_static_threshold_fires_after_for_and_resolves():
    ev = RuleEvaluator(idle_close=0, rules=[rule(**{"for": "20s"})])
    alerts = feed(ev, [95, 95, 95, 95, 50], start=1000.0)
    assert [a.status for a in alerts] == ["firing", "firing", "firing", "resolved"]
    assert alerts[0].starts_at == 1000.0
    assert alerts[0].labels == {
        "host": "a",
        "alertname": "HighCpu",
        "severity": "warning",
        "tenant": "acme",
    }


def test_samples_of_a_closed_window_are_late():
    ev = RuleEvaluator(idle_close=0, rules=[rule()])
    ev.add([Sample(tenant="acme", name="cpu", labels={}, value=99, ts=1000.0)], now=1001.0)
    ev.close(1013.0)
    ev.add([Sample(tenant="acme", name="cpu", labels={}, value=99, ts=1005.0)], now=1014.0)
    assert ev.late == 1 and not any(c.open for c in ev.compiled)


def test_a_backlog_is_evaluated_by_event_time_not_dropped():
    """Samples an hour old, arriving in several batches: windows close as the samples
    move past them, not by wall clock, so nothing is late and every breach fires."""
    ev = RuleEvaluator([rule()])
    now, alerts = 10_000.0, []
    values = [95.0 if (i // 10) % 2 == 0 else 50.0 for i in range(100)]  # 10 s hot, 10 s calm
    for batch in range(10):
        ts0 = 6_000.0 + 10 * batch
        ev.add(
            [
                Sample(
                    tenant="acme",
                    name="cpu",
                    labels={"host": "a"},
                    value=values[batch * 10 + i],
                    ts=ts0 + i,
                )
                for i in range(10)
            ],
            now,
        )
        alerts += ev.close(now)[0]
        now += 0.25
    assert ev.late == 0
    assert [a.status for a in alerts] == ["firing", "resolved"] * 4 + ["firing"]
    # the last window closes once the tenant has been quiet for idle_close (5 s, wall clock)
    assert [a.status for a in ev.close(now + 31)[0]] == ["resolved"]


def test_percentile_and_match():
    ev = RuleEvaluator(
        idle_close=0, rules=[rule(aggregate="p90", condition="> 85", match={"env": "prod"})]
    )
    samples = [
        Sample(tenant="acme", name="cpu", labels={"env": "prod"}, value=float(v), ts=1000 + v / 100)
        for v in range(100)
    ]
    samples.append(Sample(tenant="acme", name="cpu", labels={"env": "dev"}, value=1000.0, ts=1001))
    assert ev.add(samples, now=1000.0) == 100
    alerts, _ = ev.close(1013.0)
    assert [a.status for a in alerts] == ["firing"]  # p90 of 0..99 is 89.1
    assert alerts[0].labels["env"] == "prod"


def test_auto_threshold_learns_a_band_and_adapts_after_a_level_shift():
    rng = random.Random(7)
    ev = RuleEvaluator(
        idle_close=0, rules=[rule(condition="auto(p99.9)", warmup=20, **{"for": "20s"})]
    )
    normal = [10 + rng.gauss(0, 1) for _ in range(300)]
    assert feed(ev, normal, start=0.0) == []
    shifted = [50 + rng.gauss(0, 1) for _ in range(1500)]
    alerts = feed(ev, shifted, start=3000.0)
    assert alerts[0].status == "firing"
    assert "expected_range" in alerts[0].annotations
    # the band follows the new level: the alert resolves and stays resolved
    assert alerts[-1].status == "resolved"
    model = next(iter(ev.models.values()))
    lo, hi = model.band(0)
    assert lo < 50 < hi


def test_predict_fires_before_a_linear_fill_reaches_its_limit():
    r = PredictRule.model_validate(
        {
            "kind": "predict",
            "alert": "DiskFullSoon",
            "metric": "cpu",
            "window": "5m",
            "limit": 95,
            "horizon": "4h",
        }
    ).to_spec()
    ev = RuleEvaluator([r], idle_close=0)
    fill = [50 + 0.5 * i for i in range(90)]  # +0.5 % per 5 minutes, 95 reached at i=90
    alerts = feed(ev, fill, start=0.0, step=300.0)
    first = next(
        i
        for i, v in enumerate(fill)
        if any(a.status == "firing" and a.starts_at <= i * 300 for a in alerts)
    )
    assert alerts and alerts[0].status == "firing"
    eta = float(alerts[0].annotations["predicted_in"].rstrip("h"))
    assert 0 < eta <= 4.0
    assert first < 90 and fill[first] < 95


def test_each_tenant_of_a_batch_keeps_its_own_event_time():
    """One record carrying two tenants: acme's samples have moved past its window, beta's
    have not, so only acme's window closes (idle close is far away)."""
    ev = RuleEvaluator([rule()], idle_close=3600)

    def sample(tenant: str, value: float, ts: float) -> Sample:
        return Sample(tenant=tenant, name="cpu", labels={"host": "a"}, value=value, ts=ts)

    batch = [sample("acme", 95, 1000.0), sample("beta", 97, 1001.0), sample("acme", 10, 1013.0)]
    assert ev.add(batch, now=2000.0) == 3
    assert (ev.watermark, ev.last_seen) == (
        {"acme": 1013.0, "beta": 1001.0},
        {"acme": 2000.0, "beta": 2000.0},
    )
    alerts, changed = ev.close(2000.0)
    assert [(a.tenant, a.status, a.labels["host"]) for a in alerts] == [("acme", "firing", "a")]
    assert list(changed) == [("acme", "HighCpu", (("host", "a"),))]
    ev.add([sample("beta", 50, 1020.0)], now=2001.0)
    assert [(a.tenant, a.status) for a in ev.close(2001.0)[0]] == [("beta", "firing")]
