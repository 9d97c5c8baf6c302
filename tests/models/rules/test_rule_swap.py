"""A tenant's rules swapped between two batches (``set_rules``): unchanged rules keep
their open windows and state, changed rules start afresh, removed rules resolve, and
the other tenants are untouched."""

from __future__ import annotations

from app.config.rules import AnomalyRule, ThresholdRule
from models.rules.anomaly import AnomalyEvaluator
from models.rules.evaluator import RuleEvaluator
from models.rules.sample import Sample


def rule(**kw):
    base = {"alert": "HighCpu", "metric": "cpu", "window": "10s", "condition": "> 90"}
    return ThresholdRule.model_validate({**base, **kw}).to_spec()


def sample(tenant: str, value: float, ts: float, metric: str = "cpu") -> Sample:
    return Sample(tenant=tenant, name=metric, labels={"host": "a"}, value=value, ts=ts)


def test_an_unchanged_rule_keeps_its_open_window_across_a_swap():
    keep, change = rule(), rule(alert="HighMem", metric="mem", condition="> 91")
    ev = RuleEvaluator([keep, change], idle_close=3600)
    ev.add([sample("a", 100, 1001.0), sample("a", 100, 1001.0, "mem")], 1001.0)
    changed = rule(alert="HighMem", metric="mem", condition="> 91", aggregate="max")
    alerts, dropped = ev.set_rules("a", [keep, changed], 1002.0)
    assert alerts == [] and dropped == set()
    # avg(100, 85) = 92.5: over 90 only if the window kept the sample before the swap;
    # the changed rule's fresh window holds only 85
    ev.add([sample("a", 85, 1002.0), sample("a", 85, 1002.0, "mem")], 1002.0)
    ev.add([sample("a", 0, 1030.0)], 1030.0)
    fired, _ = ev.close(1030.0)
    assert [(a.labels["alertname"], a.status) for a in fired] == [("HighCpu", "firing")]


def test_a_removed_rule_resolves_its_firing_series_of_that_tenant_only():
    ev = RuleEvaluator([rule()], idle_close=0)
    for tenant in ("a", "b"):
        ev.add([sample(tenant, 95, 1001.0)], 1001.0)
    fired, _ = ev.close(1013.0)
    assert sorted(a.tenant for a in fired) == ["a", "b"]
    alerts, dropped = ev.set_rules("a", [], 1014.0)
    assert [(a.tenant, a.status, a.labels["alertname"]) for a in alerts] == [
        ("a", "resolved", "HighCpu")
    ]
    assert alerts[0].labels == fired[0].labels or alerts[0].labels == fired[1].labels
    assert dropped == {("a", "HighCpu", (("host", "a"),))}
    # tenant a has no rule any more; b still has the default one
    ev.add([sample("a", 95, 1021.0), sample("b", 95, 1021.0)], 1021.0)
    again, _ = ev.close(1033.0)
    assert [a.tenant for a in again] == ["b"]


def test_a_changed_rule_with_the_same_labels_carries_its_firing_state():
    ev = RuleEvaluator([rule()], idle_close=0)
    ev.add([sample("a", 95, 1001.0)], 1001.0)
    ev.close(1013.0)
    alerts, _ = ev.set_rules("a", [rule(condition="> 96")], 1014.0)
    assert alerts == []  # no spurious resolve: the next window decides
    ev.add([sample("a", 95, 1011.0)], 1014.0)
    closed, _ = ev.close(1023.0)
    assert [a.status for a in closed] == ["resolved"]


def test_the_default_set_swaps_for_tenants_without_their_own():
    ev = RuleEvaluator([rule()], idle_close=0)
    ev.set_rules("a", [rule()], 1000.0)
    ev.set_rules(None, [rule(alert="Other", metric="other")], 1000.0)
    ev.add([sample("a", 95, 1001.0), sample("b", 95, 1001.0)], 1001.0)
    fired, _ = ev.close(1013.0)
    assert [a.tenant for a in fired] == ["a"]


def test_anomaly_rules_swap_per_tenant():
    spec = AnomalyRule.model_validate(
        {"kind": "anomaly", "alert": "Spike", "metric": "lat", "warmup": 5}
    ).to_spec()
    ev = AnomalyEvaluator([spec])
    for i in range(30):
        ev.add([Sample(tenant="a", name="lat", labels={}, value=10 + i % 2, ts=i)], i)
    out = ev.add([Sample(tenant="a", name="lat", labels={}, value=1e6, ts=31)], 31)
    assert [a.status for a in out] == ["firing"]
    kept = ev.series[("a", "Spike", ())]
    assert ev.set_rules("b", [], 32.0) == ([], set())
    assert ev.series[("a", "Spike", ())] is kept  # tenant a untouched by b's swap
    alerts, dropped = ev.set_rules("a", [], 33.0)
    assert [(a.status, a.labels["alertname"], a.labels["tenant"]) for a in alerts] == [
        ("resolved", "Spike", "a")
    ]
    assert dropped == {("a", "Spike", ())} and ev.active  # b still has the default rule
