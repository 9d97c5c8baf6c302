"""Event rules in memory: matching, count (sliding, tumbling, distinct), sequence,
absence, state that survives a restart, and the alerts they make."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config.loader import ConfigError, load_text
from models.rules.event import Event, decode_events
from models.rules.event_eval import EventEvaluator
from models.rules.event_match import EventMatch, FieldCondition, group_key
from models.rules.events import (
    AbsenceSpec,
    CountSpec,
    SequenceSpec,
    Transition,
    make_event_rule,
    spec_digest,
)
from models.suppression.matchers import parse_matchers

COMMON = {"severity": "warning", "labels": {}, "annotations": {}}


def ev(type_: str, ts: float, tenant: str = "acme", **labels: str) -> Event:
    fields = labels.pop("fields", None) or {}  # type: ignore[arg-type]
    return Event(tenant=tenant, type=type_, ts=ts, labels=labels, fields=fields)


def count(
    window: float = 300, sliding: bool = True, op: str = ">=", n: float = 5, **kw
) -> CountSpec:
    return CountSpec(
        alert="BruteForce",
        group_by=("user",),
        match=EventMatch(types=frozenset({"login_failed"})),
        window=window,
        sliding=sliding,
        op=op,  # type: ignore[arg-type]
        threshold=n,
        distinct=kw.pop("distinct", None),
        **COMMON,
        **kw,
    )


def feed(rule, events) -> list[Transition]:  # type: ignore[no-untyped-def]
    out: list[Transition] = []
    for e in events:
        out += rule.learn_one(e)
    return out


def statuses(changes: list[Transition]) -> list[tuple[str, tuple, float]]:
    return [(c.status, c.key, c.at) for c in changes]


# --- matching ---------------------------------------------------------------------------


def test_label_matchers_and_field_conditions():
    m = EventMatch(
        types=frozenset({"http"}),
        matchers=tuple(parse_matchers('{service=~"auth|sso", env!="dev"}')),
        conditions=(
            FieldCondition("status", "ge", 400),
            FieldCondition("path", "regex", "/admin.*"),
            FieldCondition("geo.country", "in", ["us", "ca"]),
        ),
    )
    fields = {"status": 403, "path": "/admin/users", "geo": {"country": "us"}}
    assert m.matches(ev("http", 1, service="sso", env="prod", fields=fields))
    assert not m.matches(ev("http", 1, service="web", env="prod", fields=fields))
    assert not m.matches(ev("http", 1, service="auth", env="dev", fields=fields))
    assert not m.matches(ev("dns", 1, service="auth", env="prod", fields=fields))
    assert not m.matches(ev("http", 1, service="auth", fields={**fields, "status": 200}))
    assert not m.matches(ev("http", 1, service="auth", fields={**fields, "path": "/x/admin"}))
    assert not m.matches(ev("http", 1, service="auth", fields={"status": 403, "path": "/admin"}))


@pytest.mark.parametrize(
    ("op", "value", "field", "holds"),
    [
        ("eq", "x", "x", True),
        ("eq", 3, 3.0, True),
        ("ne", "x", "y", True),
        ("ne", "x", None, True),  # None here: the field is missing
        ("eq", "x", None, False),
        ("gt", 10, 11, True),
        ("gt", 10, 10, False),
        ("lt", 10, "9", False),  # a string is not a number
        ("le", 10, 10, True),
        ("in", ["a", "b"], "b", True),
        ("not_in", ["a", "b"], "c", True),
        ("not_in", ["a", "b"], None, True),
        ("regex", "4..", 403, True),  # numbers match as their text
        ("regex", "a", "ab", False),  # anchored, as label matchers
        ("regex", "(?i)ADMIN", "admin", True),
        ("regex", "true", True, True),
    ],
)
def test_field_condition_ops(op, value, field, holds):
    fields = {} if field is None else {"f": field}
    assert FieldCondition("f", op, value).holds(fields) is holds


def test_field_condition_refuses_nonsense():
    with pytest.raises(ValueError, match="needs a number"):
        FieldCondition("f", "gt", "ten")
    with pytest.raises(ValueError, match="needs a list"):
        FieldCondition("f", "in", "a")
    with pytest.raises(ValueError, match="unknown operator"):
        FieldCondition("f", "like", "a")


def test_group_key_labels_and_fields_missing_is_empty():
    e = ev("x", 1, user="bob", fields={"src": {"ip": "10.0.0.1"}})
    assert group_key(e, ("user", "fields.src.ip", "host")) == (
        ("user", "bob"),
        ("src_ip", "10.0.0.1"),
        ("host", ""),
    )


# --- count --------------------------------------------------------------------------------


def test_five_failed_logins_fire_once_four_do_not_two_users_three_each_do_not():
    rule = make_event_rule(count())
    bob = [ev("login_failed", 100 + i, user="bob") for i in range(4)]
    assert feed(rule, bob) == []
    mixed = [ev("login_failed", 110 + i, user=u) for i in range(3) for u in ("ann", "eve")]
    assert feed(rule, mixed) == []
    assert feed(rule, [ev("login_ok", 120, user="bob")]) == []  # another type
    fired = feed(rule, [ev("login_failed", 130, user="bob"), ev("login_failed", 131, user="bob")])
    assert statuses(fired) == [("firing", (("user", "bob"),), 130)]
    assert fired[0].value == 5 and fired[0].since == 130
    # stays firing while 5 are in the window; resolves once the oldest have slid out
    assert rule.tick("acme", 300) == []
    resolved = rule.tick("acme", 402)
    assert statuses(resolved) == [("resolved", (("user", "bob"),), 402)]
    assert resolved[0].since == 130


def test_sliding_window_events_spread_wider_than_the_window_never_fire():
    rule = make_event_rule(count(window=60))
    assert feed(rule, [ev("login_failed", 20 * i, user="bob") for i in range(20)]) == []


def test_strictly_greater_is_one_more():
    rule = make_event_rule(count(op=">", n=4))
    assert feed(rule, [ev("login_failed", i, user="bob") for i in range(4)]) == []
    assert len(feed(rule, [ev("login_failed", 5, user="bob")])) == 1


def test_distinct_counts_values_not_events():
    rule = make_event_rule(count(distinct="fields.ip", n=3))
    same = [ev("login_failed", i, user="bob", fields={"ip": "1.1.1.1"}) for i in range(10)]
    assert feed(rule, same) == []
    assert feed(rule, [ev("login_failed", 11, user="bob")]) == []  # no ip: not counted
    fired = feed(
        rule,
        [ev("login_failed", 12 + i, user="bob", fields={"ip": f"2.2.2.{i}"}) for i in range(2)],
    )
    assert [c.status for c in fired] == ["firing"]


def test_tumbling_counts_per_window_and_resolves_at_the_close_of_a_quiet_one():
    rule = make_event_rule(count(window=60, sliding=False, n=3))
    # 2 + 2 across a window boundary: no window holds 3
    assert feed(rule, [ev("login_failed", t, user="bob") for t in (50, 55, 61, 65)]) == []
    fired = feed(rule, [ev("login_failed", 70, user="bob")])
    assert statuses(fired) == [("firing", (("user", "bob"),), 70)]
    assert rule.tick("acme", 119) == []
    # the next window holds too: still firing at its close
    assert feed(rule, [ev("login_failed", t, user="bob") for t in (121, 122, 123)]) == []
    assert rule.tick("acme", 181) == []
    # the window 180-240 does not hold: resolved when it closes
    assert rule.tick("acme", 239) == []
    assert statuses(rule.tick("acme", 240)) == [("resolved", (("user", "bob"),), 240)]
    assert rule.states["acme"] == {}


def test_tumbling_window_skipped_entirely_resolves_at_its_end():
    rule = make_event_rule(count(window=60, sliding=False, n=2))
    assert len(feed(rule, [ev("login_failed", t, user="bob") for t in (1, 2)])) == 1
    assert statuses(rule.tick("acme", 500)) == [("resolved", (("user", "bob"),), 120)]


# --- sequence -----------------------------------------------------------------------------


def sequence(*types: str, within: float = 600, resolve_after: float = 600) -> SequenceSpec:
    return SequenceSpec(
        alert="PrivThenExport",
        group_by=("user",),
        steps=tuple(EventMatch(types=frozenset({t})) for t in types),
        within=within,
        resolve_after=resolve_after,
        **COMMON,
    )


def test_sequence_fires_only_in_order_within_the_time():
    rule = make_event_rule(sequence("priv_change", "export"))
    assert feed(rule, [ev("export", 10, user="bob"), ev("priv_change", 20, user="bob")]) == []
    assert feed(rule, [ev("export", 30, user="ann")]) == []  # another user's first step? none
    fired = feed(rule, [ev("export", 30, user="bob")])
    assert statuses(fired) == [("firing", (("user", "bob"),), 30)]
    assert fired[0].since == 20 and fired[0].value == 10
    assert feed(rule, [ev("priv_change", 40, user="bob"), ev("export", 50, user="bob")]) == []
    assert rule.tick("acme", 649) == []
    assert statuses(rule.tick("acme", 650)) == [("resolved", (("user", "bob"),), 650)]


def test_sequence_too_slow_or_another_key_does_not_fire():
    rule = make_event_rule(sequence("priv_change", "export", within=60))
    assert feed(rule, [ev("priv_change", 0, user="bob"), ev("export", 61, user="bob")]) == []
    assert feed(rule, [ev("priv_change", 100, user="bob"), ev("export", 101, user="ann")]) == []
    assert rule.tick("acme", 200) == [] and rule.states["acme"] == {}


def test_three_steps_in_order():
    rule = make_event_rule(sequence("a", "b", "c"))
    assert feed(rule, [ev("a", 1, user="u"), ev("c", 2, user="u"), ev("b", 3, user="u")]) == []
    assert [c.status for c in feed(rule, [ev("c", 4, user="u")])] == ["firing"]


# --- absence ------------------------------------------------------------------------------


def absence(for_: float = 120) -> AbsenceSpec:
    return AbsenceSpec(
        alert="HeartbeatMissing",
        group_by=("service",),
        match=EventMatch(types=frozenset({"heartbeat"})),
        for_=for_,
        **COMMON,
    )


def test_absence_fires_after_silence_and_resolves_when_events_return():
    rule = make_event_rule(absence())
    feed(rule, [ev("heartbeat", t, service="api") for t in (0, 30, 60)])
    feed(rule, [ev("heartbeat", t, service="db") for t in (0, 30, 60, 90, 120, 150)])
    assert rule.tick("acme", 179) == []
    fired = rule.tick("acme", 185)
    assert statuses(fired) == [("firing", (("service", "api"),), 185)]
    assert fired[0].since == 180
    assert rule.tick("acme", 200) == []  # once
    back = feed(rule, [ev("heartbeat", 300, service="api")])
    assert statuses(back) == [("resolved", (("service", "api"),), 300)]
    assert back[0].value == 240  # seconds it was silent


# --- state survives a restart ---------------------------------------------------------------

SPECS = [
    count(window=60),
    count(window=60, sliding=False, n=3),
    sequence("a", "b", within=30),
    absence(50),
]
kinds = st.sampled_from(["login_failed", "a", "b", "heartbeat", "other"])
users = st.sampled_from(["bob", "ann"])


@settings(max_examples=60, deadline=None)
@given(
    spec=st.sampled_from(SPECS),
    steps=st.lists(st.tuples(kinds, users, st.integers(0, 40)), max_size=40),
    cut=st.integers(0, 40),
)
def test_state_through_json_gives_the_same_transitions(spec, steps, cut):
    """A worker killed at any point and restored from its persisted keys goes on exactly
    as one that never stopped."""
    events, ts = [], 0.0
    for kind, user, gap in steps:
        ts += gap
        events.append(ev(kind, ts, user=user, service=user))
    whole = make_event_rule(spec)
    before = make_event_rule(spec)
    expected, got = [], []
    for i, e in enumerate(events):
        if i == cut:
            after = make_event_rule(spec)
            for tenant, per in before.states.items():
                for key in per:
                    data = orjson.loads(orjson.dumps(before.to_wire(tenant, key)))
                    after.restore(tenant, key, data)
            before = after
        expected += whole.learn_one(e) + whole.tick("acme", e.ts)
        got += before.learn_one(e) + before.tick("acme", e.ts)
    assert got == expected


# --- the evaluator: routing events to rules, clocks, alerts ---------------------------------


def test_evaluator_alerts_are_labelled_and_templated_as_metric_rules():
    spec = CountSpec(
        alert="BruteForce",
        severity="critical",
        labels={"team": "sec"},
        annotations={"summary": "{{ value }} failed logins for {{ labels.user }}"},
        group_by=("user",),
        match=EventMatch(types=frozenset({"login_failed"})),
        window=300,
        sliding=True,
        op=">=",
        threshold=2,
        distinct=None,
    )
    ev_ = EventEvaluator([spec, absence(60)])
    [alert] = ev_.add([ev("login_failed", 1000 + i, user="bob") for i in range(2)], now=1001)
    assert alert.labels == {
        "user": "bob",
        "team": "sec",
        "alertname": "BruteForce",
        "severity": "critical",
        "tenant": "acme",
    }
    assert alert.annotations == {"summary": "2 failed logins for bob"}
    # valid for 4 resend intervals (60 s), as Prometheus' alerts are
    assert alert.status == "firing" and alert.starts_at == 1001 and alert.ends_at == 1241
    assert alert.source == "event-rule:BruteForce"
    assert ev_.judged == 2  # rule evaluations (/metrics): each event by the one rule of its type
    changed = {(t, r, k): d for t, r, k, d in ev_.changed()}
    assert set(changed) == {("acme", "BruteForce", (("user", "bob"),))}
    assert list(ev_.changed()) == []


def test_firing_alerts_are_sent_again_each_interval_and_after_a_restore():
    ev_ = EventEvaluator([count(n=2)], resend=60)
    [first] = ev_.add([ev("login_failed", 1000 + i, user="bob") for i in range(2)], now=1001)
    ev_.add([ev("login_failed", 1005, user="bob")], now=1005)  # still firing: no new alert
    assert ev_.tick(now=1060) == []
    [again] = ev_.tick(now=1061)
    assert (again.fingerprint, again.status, again.starts_at) == (first.fingerprint, "firing", 1001)
    assert again.ends_at == 1061 + 240
    assert ev_.tick(now=1100) == []
    stored = {k: d for _, _, k, d in ev_.changed()}[(("user", "bob"),)]
    restarted = EventEvaluator([count(n=2)], resend=60)
    assert restarted.restore("acme", "BruteForce", (("user", "bob"),), stored, 2000) == "restored"
    [refreshed] = restarted.tick(now=2000)  # at once: the old one may have expired meanwhile
    assert (refreshed.fingerprint, refreshed.status) == (first.fingerprint, "firing")
    # resolved (the window slid past): no more resends
    assert [a.status for a in restarted.tick(now=2001 + 5000)] == ["resolved"]
    assert restarted.tick(now=9000) == []


def test_evaluator_clock_is_event_time_until_the_tenant_goes_quiet():
    ev_ = EventEvaluator([absence(60)], idle=5)
    ev_.add([ev("heartbeat", 1000, service="api")], now=5000)  # a backlog from long ago
    assert ev_.tick(now=5001) == []  # judged at event time 1000: not silent yet
    ev_.add([ev("heartbeat", 1030, service="api")], now=5002)
    assert ev_.tick(now=5004) == []
    [alert] = ev_.tick(now=5008)  # nothing for 5 s: the wall clock judges
    assert alert.status == "firing" and alert.labels["service"] == "api"


def test_restored_tenant_waits_for_its_backlog_before_judging_absence():
    ev_ = EventEvaluator([absence(60)], idle=5)
    digest = spec_digest(absence(60))
    key = (("service", "api"),)
    assert ev_.restore("acme", "HeartbeatMissing", key, [digest, [False, 0, 10]], 5000) == (
        "restored"
    )
    assert ev_.tick(now=5001) == []
    assert [a.status for a in ev_.tick(now=5006)] == ["firing"]


def test_stored_state_is_adopted_only_by_the_rule_that_wrote_it():
    ev_ = EventEvaluator([absence(60)], idle=5)
    key = (("service", "api"),)
    # redefined while the worker was down: stale, deleted by the caller
    assert ev_.restore("acme", "HeartbeatMissing", key, ["0" * 16, [False, 0, 10]], 1) == "stale"
    # a rule only the tenant's own config has: kept until that config is read
    own = sequence("a", "b")
    stored = [spec_digest(own), [False, 0.0, [[5.0, 5.0]], 0.0]]
    assert ev_.restore("acme", "PrivThenExport", (("user", "u"),), stored, 1) == "parked"
    other = ["0" * 16, [False, 0.0, [[5.0, 5.0]], 0.0]]
    assert ev_.restore("acme", "PrivThenExport", (("user", "v"),), other, 1) == "parked"
    ev_.set_rules("acme", [own], now=2)
    assert list(ev_.changed()) == [("acme", "PrivThenExport", (("user", "v"),), None)]
    [fired] = ev_.add([ev("b", 6, user="u"), ev("b", 6, user="v")], now=6)
    assert fired.labels["user"] == "u"  # u's first step was restored, v's was not


def test_spec_digest_is_the_same_in_every_process():
    """Sets of event types iterate in another order under another hash seed."""
    spec = "AbsenceSpec(alert='x', severity='w', labels={}, annotations={}, group_by=(),"
    spec += " match=EventMatch(types=frozenset('abcdefgh')), for_=1.0)"
    code = (
        "from models.rules.events import AbsenceSpec, spec_digest;"
        "from models.rules.event_match import EventMatch;"
        f"print(spec_digest({spec}))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1
    here = AbsenceSpec(
        alert="x",
        severity="w",
        labels={},
        annotations={},
        group_by=(),
        match=EventMatch(types=frozenset("abcdefgh")),
        for_=1.0,
    )
    assert outs.pop().strip() == spec_digest(here)
    assert spec_digest(count(n=5)) != spec_digest(count(n=6))


def test_rules_swapped_at_run_time_keep_unchanged_state_and_resolve_removed():
    ev_ = EventEvaluator([count(n=5), absence(60)])
    logins = [ev("login_failed", 100 + i, tenant=t, user="bob") for i in range(3) for t in "ab"]
    assert ev_.add(logins, now=110) == []
    [fired] = ev_.add([ev("login_failed", 104 + i, tenant="b", user="bob") for i in (0, 1)], 110)
    list(ev_.changed())
    # tenant a gets its own set: the count rule unchanged (its window carries on),
    # the absence rule gone
    ev_.set_rules("a", [count(n=5)], now=120)
    assert ev_.tick(now=120) == []
    [a_fired] = ev_.add([ev("login_failed", 121 + i, tenant="a", user="bob") for i in (0, 1)], 121)
    assert a_fired.labels["tenant"] == "a" and a_fired.status == "firing"
    # the default set changes the count rule: b's firing key resolves and its state goes;
    # a, with its own set, is not touched
    ev_.set_rules(None, [count(n=50), absence(60)], now=130)
    [retired] = ev_.tick(now=130)
    assert (retired.labels["tenant"], retired.status, retired.ends_at) == ("b", "resolved", 130)
    assert retired.fingerprint == fired.fingerprint
    gone = {(t, r, k): d for t, r, k, d in ev_.changed()}
    assert gone[("b", "BruteForce", (("user", "bob"),))] is None
    assert ev_.rules_of("a").rules["BruteForce"].states["a"]  # a's window carried on
    assert ev_.add([ev("login_failed", 131, tenant="b", user="bob")], now=131) == []


# --- wire and config ----------------------------------------------------------------------


def test_decode_events_rejects_each_bad_item_with_its_reason():
    raw = orjson.dumps(
        [
            {"type": "login_failed", "labels": {"user": "bob"}, "fields": {"ip": "1"}, "ts": 5},
            {"labels": {}},
            {"type": "x", "ts": "yesterday"},
            {"type": "x", "fields": [1]},
            {"type": "x", "labels": {"a": {"b": 1}}},
            "nope",
        ]
    )
    events, bad = decode_events(raw, "acme", now=9.0)
    assert [e.to_wire() for e in events] == [
        {
            "tenant": "acme",
            "type": "login_failed",
            "labels": {"user": "bob"},
            "fields": {"ip": "1"},
            "ts": 5.0,
        }
    ]
    assert [reason for _, reason in bad] == [
        "type: required, a non-empty string",
        "ts: expected epoch seconds",
        "fields: expected an object",
        "labels.a: expected a string",
        "event: expected a JSON object",
    ]


BASE = """
route: {receiver: a}
receivers: [{name: a}]
event_rules:
"""


def test_config_builds_specs():
    config = load_text(
        BASE
        + """
  - alert: BruteForce
    kind: count
    match:
      type: login_failed
      matchers: ['service=~"auth|sso"']
      fields: {ip: {regex: '10\\..*'}, attempts: {gt: 0, le: 10}}
    group_by: [user, fields.src.ip]
    window: 5m
    condition: ">= 5"
  - alert: PrivilegeThenExport
    kind: sequence
    steps: [{type: privilege_change}, {type: data_export}]
    within: 10m
  - alert: HeartbeatMissing
    kind: absence
    match: {type: heartbeat}
    group_by: [service]
    for: 2m
""",
        env={},
    )
    brute, seq, dead = (r.to_spec() for r in config.event_rules)
    assert brute.window == 300 and brute.op == ">=" and brute.threshold == 5 and brute.sliding
    assert brute.group_by == ("user", "fields.src.ip")
    assert [(c.field, c.op, c.value) for c in brute.match.conditions] == [
        ("ip", "regex", "10\\..*"),
        ("attempts", "gt", 0),
        ("attempts", "le", 10),
    ]
    assert [str(m) for m in brute.match.matchers] == ['service=~"auth|sso"']
    assert seq.within == 600 and seq.resolve_after == 600 and len(seq.steps) == 2
    assert dead.for_ == 120 and dead.group_by == ("service",)


def test_config_errors_name_line_and_key_all_at_once():
    with pytest.raises(ConfigError) as info:
        load_text(
            BASE
            + """
  - alert: A
    kind: count
    match: {type: x, matchers: ['a=~"("'], fields: {n: {gt: ten}, m: {like: 1}}}
    group_by: [bad-name]
    window: 0s
    condition: "< 3"
  - alert: A
    kind: sequence
    steps: [{type: x}]
    within: 1m
""",
            env={},
        )
    text = str(info.value)
    for expected in (
        ":8: event_rules[0].match.matchers",
        "error parsing regexp",
        "fields: n: gt needs a number, got 'ten'; m:",
        "m: unknown operator 'like'",
        "'bad-name' is neither a label name nor fields.<path>",
        ":10: event_rules[0].window: must be longer than 0s",
        "for too few use kind: absence",
        ":14: event_rules[1].steps",
    ):
        assert expected in text, text
