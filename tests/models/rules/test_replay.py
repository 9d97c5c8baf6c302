"""Backtest without Kafka: intervals from a replay, the live path's clock, comparing runs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from app.config.event_rules import EventRule
from app.config.rules import AnomalyRule, ThresholdRule
from models.alerting.alert import FIRING
from models.rules.backtest import Interval, Replay, RuleRun, compare
from models.rules.evaluator import RuleEvaluator
from models.rules.event import Event
from models.rules.sample import Sample


def rule(**kw):
    base = {"alert": "HighCpu", "metric": "cpu", "window": "10s", "condition": "> 80"}
    return ThresholdRule.model_validate({**base, **kw}).to_spec()


def samples(values: list[float], start: float = 1000.0, host: str = "a", tenant: str = "acme"):
    """One sample a second."""
    return [
        Sample(tenant=tenant, name="cpu", labels={"host": host}, value=v, ts=start + i)
        for i, v in enumerate(values)
    ]


def replay(specs, history, until):
    runs = [RuleRun(s) for s in specs]
    r = Replay(runs)
    for s in history:
        r.add([s])
    r.finish(until)
    return runs


def test_intervals_when_and_how_long():
    # 30 s above 80, 20 s below, 20 s above and still firing at the end
    history = samples([90] * 30 + [50] * 20 + [95] * 20)
    [run] = replay([rule(**{"for": "10s"})], history, until=1080.0)
    first, second = run.intervals
    # windows of 10 s close 2 s (grace) after their end; for: 10s holds at the first's end
    assert (first.starts_at, first.fired_at, first.resolved_at) == (1000.0, 1012.0, 1042.0)
    assert first.firings == 3
    assert first.labels == {
        "host": "a",
        "alertname": "HighCpu",
        "severity": "warning",
        "tenant": "acme",
    }
    assert (second.starts_at, second.resolved_at, second.firings) == (1050.0, None, 2)
    assert run.summary() == {
        "intervals": 2,
        "series": 1,
        "alerts": 6,
        "still_firing": 1,
        "firing_seconds": 42.0,
    }


def test_samples_outside_the_range_are_not_history():
    r = Replay([RuleRun(rule())], start=1010.0)
    r.add(samples([99] * 30), until=1020.0)
    r.finish(1030.0)
    assert r.samples == 10
    [interval] = r.runs[0].intervals
    assert interval.starts_at == 1010.0 and interval.firings == 1


def test_tenants_keep_their_own_clock():
    # tenant b's history is read after all of a's: a's clock must not close b's windows
    a = samples([90] * 40, tenant="a")
    b = samples([90] * 20 + [10] * 20, tenant="b")
    [run] = replay([rule()], a + b, until=1050.0)
    by_tenant = {i.labels["tenant"]: i for i in run.intervals}
    assert by_tenant["b"].resolved_at == 1032.0  # b's own event time (window end + grace)
    assert by_tenant["a"].resolved_at is None


def test_anomaly_rules_replay_through_the_anomaly_evaluator():
    spec = AnomalyRule.model_validate(
        {
            "alert": "CpuOdd",
            "metric": "cpu",
            "kind": "anomaly",
            "detector": "zscore",
            "threshold": 0.9,
            "warmup": 20,
            "resolve_after": 3,
        }
    ).to_spec()
    history = samples([50.0 + (i % 3) for i in range(40)] + [500.0] + [51.0] * 10)
    [run] = replay([spec], history, until=1060.0)
    [interval] = run.intervals
    assert interval.starts_at == 1040.0 and interval.resolved_at is not None


def live(spec, history, tick: float, lag: float):
    """The metrics agent's way: each record at wall time ts + lag, windows closed on a
    timer every ``tick`` s of wall time, then idle closes after the last record."""
    ev = RuleEvaluator([spec])
    alerts = []
    next_tick = history[0].ts
    for s in history:
        now = s.ts + lag
        while next_tick <= now:
            alerts += ev.close(next_tick)[0]
            next_tick += tick
        ev.add([s], now)
    end = history[-1].ts + lag + 60
    while next_tick <= end:
        alerts += ev.close(next_tick)[0]
        next_tick += tick
    return alerts


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.sampled_from([10.0, 79.0, 81.0, 99.0]), min_size=5, max_size=120),
    for_=st.sampled_from(["0s", "10s", "25s"]),
    grace=st.sampled_from(["0s", "2s"]),
    tick=st.sampled_from([0.25, 1.0, 3.0]),
    lag=st.sampled_from([0.0, 0.5, 1.5]),
)
def test_a_replay_fires_what_the_live_path_fired(values, for_, grace, tick, lag):
    spec = rule(**{"for": for_, "grace": grace})
    history = samples(values)
    alerts = live(spec, history, tick, lag)
    firing = [(a.fingerprint, a.starts_at) for a in alerts if a.status == FIRING]
    [run] = replay([spec], history, until=history[-1].ts + 60)
    assert run.alerts == len(alerts)
    assert sorted((i.starts_at, i.firings) for i in run.intervals) == sorted(
        (t, firing.count((fp, t))) for fp, t in set(firing)
    )


def iv(start, end, host="a"):
    return Interval((("host", host),), {"host": host}, start, start, end, 1)


def test_compare_names_added_removed_and_changed_intervals():
    current = [iv(100, 200), iv(300, 400), iv(500, 600, "b"), iv(700, None)]
    candidate = [iv(100, 200), iv(290, 420), iv(900, 950, "b"), iv(700, None), iv(50, 60, "c")]
    diff = compare(current, candidate)
    assert diff.unchanged == 2
    assert [(a.starts_at, b.starts_at, b.resolved_at) for a, b in diff.changed] == [(300, 290, 420)]
    assert [(i.series, i.starts_at) for i in diff.removed] == [((("host", "b"),), 500)]
    assert [(i.series, i.starts_at) for i in diff.added] == [
        ((("host", "c"),), 50),
        ((("host", "b"),), 900),
    ]
    assert diff.to_json()["changed"][0]["candidate"]["resolved_at"] == 420


def test_compare_pairs_each_interval_once():
    # one long current interval overlapping two candidate ones: one changed, one added
    diff = compare([iv(100, 500)], [iv(100, 200), iv(300, 500)])
    assert len(diff.changed) == 1 and len(diff.added) == 1 and not diff.removed


def event_rule(**kw):
    return TypeAdapter(EventRule).validate_python(kw).to_spec()


def events(kind: str, at: list[float], **labels: str) -> list[Event]:
    return [Event(tenant="acme", type=kind, ts=t, labels=labels) for t in at]


def test_event_rules_replay_through_the_event_evaluator():
    logins = event_rule(
        alert="LoginFailures",
        kind="count",
        match={"type": "login_failed"},
        group_by=["user"],
        window="5m",
        condition=">= 5",
    )
    heartbeat = event_rule(
        alert="ServiceDown", kind="absence", match={"type": "heartbeat"}, **{"for": "2m"}
    )
    history = sorted(
        events("login_failed", [1000, 1030, 1060, 1090, 1120], user="ada")
        + events("login_failed", [1000, 1100, 1200, 1250], user="bob")
        + events("heartbeat", [1000 + 30 * i for i in range(5)] + [1500, 1530]),
        key=lambda e: e.ts,
    )
    counted, absent = replay([logins, heartbeat], history, until=1600.0)
    [fired] = counted.intervals
    assert fired.labels["user"] == "ada" and fired.starts_at == 1120.0
    [down] = absent.intervals
    # the last heartbeat before the gap at 1120: absent for 2m at 1240, back at 1500
    assert (down.starts_at, down.resolved_at) == (1240.0, 1500.0)
