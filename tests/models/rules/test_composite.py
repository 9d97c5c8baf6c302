"""Composite rules: all/any/not over other rules' states, joined on shared labels."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config.loader import ConfigError, load_text
from app.config.rules import CompositeRule, ThresholdRule
from models.alerting.alert import FIRING, RESOLVED, Alert
from models.rules.composite import CompositeEvaluator, leaf_specs
from models.rules.evaluator import RuleEvaluator, SeriesState
from models.rules.sample import Sample


def composite(**kw) -> CompositeEvaluator:
    base = {"kind": "composite", "alert": "Overloaded", "join_on": ["service"]}
    spec = CompositeRule.model_validate({**base, **kw}).to_spec()
    return CompositeEvaluator([spec], {s.alert: s for s in leaf_specs([spec])})


def member(rule: str, service: str, status: str = FIRING, ends_at: float = 5000.0, **labels):
    labels = {"alertname": rule, "service": service, "tenant": "t", **labels}
    return Alert(tenant="t", labels=labels, status=status, ends_at=ends_at)


def step(ev: CompositeEvaluator, alerts: list[Alert], now: float) -> list[tuple[str, str]]:
    ev.observe(alerts, now)
    out, _ = ev.evaluate(now)
    return [(a.labels["service"], a.status) for a in out]


BOTH = {"all": [{"rule": "Cpu"}, {"rule": "Latency"}]}


def test_all_fires_only_for_a_service_where_both_fire():
    ev = composite(**BOTH)
    assert step(ev, [member("Cpu", "api"), member("Latency", "db")], 1000) == []
    assert step(ev, [member("Latency", "api", host="h2")], 1001) == [("api", FIRING)]
    # a second series of the same rule and service keeps it up when the first resolves
    assert step(ev, [member("Cpu", "api", host="h9")], 1002) == [("api", FIRING)]
    assert step(ev, [member("Cpu", "api", RESOLVED)], 1003) == [("api", FIRING)]
    assert step(ev, [member("Cpu", "api", RESOLVED, host="h9")], 1004) == [("api", RESOLVED)]
    assert step(ev, [], 1005) == []


def test_the_composite_alert_carries_the_join_labels_and_its_own():
    ev = composite(
        **BOTH,
        severity="critical",
        labels={"team": "sre"},
        annotations={"summary": "{{ labels.service }}: {{ firing | join(' and ') }}"},
    )
    ev.observe([member("Cpu", "api", region="eu"), member("Latency", "api", ends_at=0)], 1000)
    [alert], changed = ev.evaluate(1000)
    assert alert.labels == {
        "service": "api",
        "team": "sre",
        "alertname": "Overloaded",
        "severity": "critical",
        "tenant": "t",
    }
    assert alert.annotations == {"summary": "api: Cpu and Latency"}
    assert alert.source == "composite:Overloaded" and alert.starts_at == 1000
    assert alert.ends_at == 0.0  # a member without an end: until resolved
    assert changed == {("t", "Overloaded", (("service", "api"),)): SeriesState(1000, True)}


def test_any_and_not():
    ev = composite(any=[{"rule": "Cpu"}, {"all": [{"rule": "Mem"}, {"not": {"rule": "Maint"}}]}])
    assert step(ev, [member("Maint", "api"), member("Mem", "api")], 1000) == []
    assert step(ev, [member("Maint", "api", RESOLVED)], 1001) == [("api", FIRING)]
    assert step(ev, [member("Maint", "api")], 1002) == [("api", RESOLVED)]
    assert step(ev, [member("Cpu", "api")], 1003) == [("api", FIRING)]


def test_for_holds_back_the_composite_and_a_member_past_its_end_drops_out():
    ev = composite(**BOTH, **{"for": "30s"})
    assert step(ev, [member("Cpu", "a", ends_at=1100), member("Latency", "a")], 1000) == []
    assert step(ev, [], 1029) == []
    assert step(ev, [], 1030) == [("a", FIRING)]
    assert step(ev, [], 1099) == []  # nothing changed: nothing re-sent
    assert step(ev, [], 1100) == [("a", RESOLVED)]  # Cpu's alert ran out
    assert ev.members[("t", "Overloaded", (("service", "a"),))]["Cpu"] == {}


def test_members_and_states_are_dropped_once_nothing_fires():
    ev = composite(**BOTH)
    step(ev, [member("Cpu", "a"), member("Latency", "a")], 1000)
    step(ev, [member("Cpu", "a", RESOLVED), member("Latency", "a", RESOLVED)], 1001)
    assert ev.members == {} and ev.state == {}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Cpu", "Latency", "Other"]), st.sampled_from("abc"), st.booleans()
        ),
        max_size=40,
    )
)
def test_all_matches_a_brute_force_model(events):
    """After each transition the firing composites are exactly the services where some
    series of each rule fires (two hosts per rule and service, counted as a multiset)."""
    ev = composite(**BOTH)
    firing: dict[tuple[str, str], set[str]] = {}
    shown: set[str] = set()
    for i, (rule, service, up) in enumerate(events):
        host = "h1" if i % 3 else "h2"
        hosts = firing.setdefault((rule, service), set())
        (hosts.add if up else hosts.discard)(host)
        for svc, status in step(
            ev, [member(rule, service, FIRING if up else RESOLVED, host=host)], 1000 + i
        ):
            (shown.add if status == FIRING else shown.discard)(svc)
        expected = {s for s in "abc" if firing.get(("Cpu", s)) and firing.get(("Latency", s))}
        assert shown == expected


def samples(name: str, values: dict[str, float], ts: float) -> list[Sample]:
    return [
        Sample(tenant="t", name=name, labels={"service": s}, value=v, ts=ts)
        for s, v in values.items()
    ]


def test_inline_conditions_with_hysteresis_over_real_windows():
    """CPU > 90 (clears at 80) and latency > 0.5 for the same service, inline: their
    own alerts feed the composite only."""
    rule = CompositeRule.model_validate(
        {
            "kind": "composite",
            "alert": "Overloaded",
            "join_on": ["service"],
            "all": [
                {"metric": "cpu", "window": "10s", "condition": "> 90", "clear_threshold": 80},
                {"metric": "latency", "window": "10s", "condition": "> 0.5"},
            ],
        }
    ).to_spec()
    windows = RuleEvaluator(leaf_specs([rule]), idle_close=0)
    ev = CompositeEvaluator([rule], {s.alert: s for s in leaf_specs([rule])})
    cpu = [
        {"api": 95, "db": 95},
        {"api": 85, "db": 95},
        {"api": 79, "db": 95},
        {"api": 95, "db": 95},
    ]
    lat = [
        {"api": 0.9, "db": 0.1},
        {"api": 0.9, "db": 0.1},
        {"api": 0.9, "db": 0.1},
        {"api": 0.9, "db": 0.1},
    ]
    seen = []
    for i in range(4):
        ts = 1000.0 + 10 * i
        windows.add(samples("cpu", cpu[i], ts + 1) + samples("latency", lat[i], ts + 1), ts + 1)
        alerts, _ = windows.close(ts + 12.5)
        assert ev.observe(alerts, ts + 12.5) == []  # the inline conditions' alerts are not emitted
        out, _ = ev.evaluate(ts + 12.5)
        seen.append([(a.labels["service"], a.status) for a in out])
    # db never has high latency; api holds through 85 (hysteresis), clears at 79
    assert seen == [[("api", FIRING)], [("api", FIRING)], [("api", RESOLVED)], [("api", FIRING)]]


def test_restored_state_and_members_do_not_resolve_spuriously():
    rule = CompositeRule.model_validate(
        {"kind": "composite", "alert": "Overloaded", "join_on": ["service"], **BOTH}
    ).to_spec()
    specs = {
        name: ThresholdRule.model_validate(
            {"alert": name, "metric": name, "window": window, "condition": "> 1"}
        ).to_spec()
        for name, window in (("Cpu", "60s"), ("Latency", "10s"))
    }
    ev = CompositeEvaluator([rule], specs)
    labels = (("service", "api"),)
    ev.restore(("t", "Overloaded", labels), SeriesState(900.0, True), 1000)
    ev.restore(("t", "Cpu", labels), SeriesState(800.0, True), 1000)
    ev.restore(("t", "Latency", labels), SeriesState(850.0, True), 1000)
    ev.restore(("t", "Unknown", labels), SeriesState(850.0, True), 1000)
    out, _ = ev.evaluate(1000)
    assert [(a.status, a.starts_at, a.ends_at) for a in out] == [(FIRING, 900.0, 1000 + 4 * 60 + 2)]


def config(rules: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_text("route: {receiver: r}\nreceivers: [{name: r}]\nrules:\n" + rules)
    return err.value.errors


def test_config_errors_name_line_and_key():
    errors = config(
        "  - {alert: Cpu, metric: cpu, condition: '> 90'}\n"
        "  - alert: A\n"
        "    kind: composite\n"
        "    all:\n"
        "      - rule: Cpu\n"
        "      - {metric: lat, condition: '>> 1'}\n"
        "      - {alert: X, metric: lat, condition: '> 1'}\n"
        "  - {alert: B, kind: composite, not: {rule: Cpu}}\n"
        "  - {alert: C, kind: composite, all: [{rule: Cpu}], any: [{rule: Cpu}]}\n"
        "  - {alert: D, kind: composite, join_on: ['a b'], all: [{rule: Cpu}]}\n"
    )
    assert errors == [
        "pipelines.yaml:9: rules[1].all[1].condition: '>> 1' is not a condition such as "
        "'> 90' or 'auto(p99.9)' (operators: >, >=, <, <=, ==, !=)",
        "pipelines.yaml:10: rules[1].all[2]: an inline condition is named by its composite; "
        "to read another rule's state write {rule: Name}",
        "pipelines.yaml:11: rules[2]: the condition holds when no rule fires, so it has no "
        "series to judge: combine not with a condition that fires",
        "pipelines.yaml:12: rules[3]: a composite needs exactly one of all, any, not",
        "pipelines.yaml:13: rules[4].join_on: invalid label name a b",
    ], errors


def test_references_must_name_rules_that_exist_and_are_not_composites():
    errors = config(
        "  - {alert: Cpu, metric: cpu, condition: '> 90'}\n"
        "  - {alert: A, kind: composite, all: [{rule: Cpu}, {rule: Nope}]}\n"
        "  - {alert: B, kind: composite, any: [{rule: A}]}\n"
    )
    assert errors == [
        "pipelines.yaml:1: (top): rules: composite A reads rule Nope, which is not defined; "
        "rules: composite B reads composite A"
    ], errors


def test_a_tenants_own_composites_swap_without_touching_the_others():
    def spec(**kw):
        base = {"kind": "composite", "alert": "Overloaded", "join_on": ["service"], **BOTH}
        return CompositeRule.model_validate({**base, **kw}).to_spec()

    ev = CompositeEvaluator([spec()])

    def fire(tenant, rule):
        labels = {"alertname": rule, "service": "api", "tenant": tenant}
        return Alert(tenant=tenant, labels=labels, ends_at=5000.0)

    ev.observe([fire(t, r) for t in ("a", "b") for r in ("Cpu", "Latency")], 1000)
    assert sorted(a.tenant for a in ev.evaluate(1000)[0]) == ["a", "b"]
    # tenant a: the same composite (kept), then a changed one (its firing key resolves)
    assert ev.set_rules("a", [spec()], 1001) == ([], set())
    alerts, dropped = ev.set_rules("a", [spec(severity="critical")], 1002)
    assert [(a.tenant, a.status, a.labels["severity"]) for a in alerts] == [
        ("a", RESOLVED, "warning")
    ]
    assert dropped == {("a", "Overloaded", (("service", "api"),))}
    # the new one fires again from the next member alerts; b never noticed
    ev.observe([fire("a", "Cpu"), fire("a", "Latency")], 1003)
    out, _ = ev.evaluate(1003)
    assert [(a.tenant, a.status, a.labels["severity"]) for a in out] == [("a", FIRING, "critical")]
    assert ev.state[("b", "Overloaded", (("service", "api"),))].firing
    # a tenant without composites: its inline and referenced rules' alerts pass
    assert ev.set_rules("a", [], 1004)[0][0].status == RESOLVED
    assert len(ev.observe([fire("a", "Cpu")], 1005)) == 1
