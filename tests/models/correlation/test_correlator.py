"""The correlator: rules (labels, window, age, N alerts, matchers, topology), learned
links (a confirmed edge joins, a vetoed one never), merge/split, and a restore from
what it persisted that decides the next alerts exactly as before."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from app.config.correlation import CorrelationConfig
from models.alerting.alert import FIRING, RESOLVED, Alert
from models.correlation.correlator import LEARNED, CorrelationRule, Correlator, LearnedJoin
from models.correlation.incident import OPEN, PENDING, Incident, Member
from models.correlation.incident import RESOLVED as INC_RESOLVED
from models.correlation.learner import CausalLearner
from models.correlation.topology import Topology, undirected
from models.suppression.matchers import parse_matchers


def alert(name: str, t: float, status: str = FIRING, **labels: str) -> Alert:
    labels = {"alertname": name, "tenant": "acme", **labels}
    return Alert("acme", labels, status=status, starts_at=t)


def by_cluster(**kw) -> Correlator:  # type: ignore[no-untyped-def]
    return Correlator([CorrelationRule("outage", ("cluster",), **kw)])


def test_shared_label_values_join_one_incident_others_stay_out():
    c = by_cluster()
    a = c.learn_one(alert("DbDown", 0, cluster="eu"), 0, 0)
    b = c.learn_one(alert("ApiErrors", 10, cluster="eu"), 0, 10)
    other = c.learn_one(alert("DiskFull", 12, cluster="us"), 0, 12)
    nolabel = c.learn_one(alert("Cpu", 13), 0, 13)
    assert a is b and a.status == OPEN and len(a.members) == 2
    assert a.members[b.members[next(reversed(b.members))].fingerprint].how == "outage"
    assert other is not a and nolabel is not a and nolabel is not other
    assert other.status == PENDING  # a lone alert is a candidate, not an incident


def test_window_is_measured_from_the_incidents_last_alert_and_age_caps_it():
    c = by_cluster(window=60, max_age=150)
    first = c.learn_one(alert("A", 0, cluster="eu"), 0, 0)
    for t in (50, 100, 140):  # each within 60 s of the previous: the window slides
        assert c.learn_one(alert(f"B{t}", t, cluster="eu"), 0, t) is first
    late = c.learn_one(alert("C", 160, cluster="eu"), 0, 160)  # in window, but too old
    assert late is not first
    gap = c.learn_one(alert("D", 400, cluster="eu"), 0, 400)  # past the window
    assert gap is not late


def test_min_alerts_counts_firing_alerts_only():
    c = by_cluster(min_alerts=3)
    inc = c.learn_one(alert("A", 0, cluster="eu"), 0, 0)
    c.learn_one(alert("B", 1, cluster="eu"), 0, 1)
    c.learn_one(alert("B", 2, RESOLVED, cluster="eu"), 0, 2)  # resolved: not counted
    assert inc.status == PENDING and inc.firing == 1
    c.learn_one(alert("C", 3, cluster="eu"), 0, 3)
    assert inc.status == PENDING
    c.learn_one(alert("D", 4, cluster="eu"), 0, 4)
    assert inc.status == OPEN and c.events[inc.id] == "opened"


def test_a_resolved_incident_takes_no_new_alerts():
    c = by_cluster()
    inc = c.learn_one(alert("A", 0, cluster="eu"), 0, 0)
    c.learn_one(alert("B", 1, cluster="eu"), 0, 1)
    c.resolve(inc.id, 2, "ann")
    later = c.learn_one(alert("C", 3, cluster="eu"), 0, 3)
    assert later is not inc and inc.status == INC_RESOLVED and len(inc.members) == 2
    # and an incident resolved because its alerts resolved: same
    c.learn_one(alert("C", 4, RESOLVED, cluster="eu"), 0, 4)
    assert later.status == INC_RESOLVED
    assert c.learn_one(alert("C", 5, cluster="eu"), 0, 5) is not later  # fires again: new


def test_matchers_limit_a_rule_and_rules_are_looked_up_by_literal_value():
    rules = [
        CorrelationRule(f"team{i}", ("cluster",), matchers=tuple(parse_matchers(f"team=t{i}")))
        for i in range(500)
    ]
    c = Correlator(rules)
    assert [r.name for r in c.rules_for({"team": "t7", "cluster": "eu"})] == ["team7"]
    assert c.rules_for({"cluster": "eu"}) == []
    a = c.learn_one(alert("A", 0, cluster="eu", team="t7"), 0, 0)
    assert c.learn_one(alert("B", 1, cluster="eu", team="t7"), 0, 1) is a
    assert c.learn_one(alert("C", 2, cluster="eu", team="t8"), 0, 2) is not a
    assert c.learn_one(alert("D", 3, cluster="eu"), 0, 3) is not a


def test_topology_rule_joins_neighbours_only():
    topo = Topology("service", undirected([("api", "db"), ("db", "disk"), ("db", "cache")]))
    c = Correlator([CorrelationRule("near", (), topology=True)], topology=topo)
    db = c.learn_one(alert("DbSlow", 0, service="db"), 0, 0)
    assert c.learn_one(alert("ApiErrors", 1, service="api"), 0, 1) is db
    assert c.learn_one(alert("DiskFull", 2, service="disk"), 0, 2) is db
    assert c.learn_one(alert("MailQueue", 3, service="mail"), 0, 3) is not db
    # a tenant's own graph from the topology topic replaces the configured one
    c.set_topology("acme", undirected([("smtp", "db")]))
    assert c.learn_one(alert("SmtpDown", 4, service="smtp"), 0, 4) is db
    assert c.learn_one(alert("CacheMiss", 5, service="cache"), 0, 5) is not db  # no more


def learned_correlator(topology: Topology | None = None) -> Correlator:
    return Correlator(
        [], learned=LearnedJoin(min_score=0.5), learner_type=CausalLearner, topology=topology
    )


def test_a_confirmed_learned_link_joins_and_a_vetoed_one_never_does():
    c = learned_correlator()
    learner = c.learner("acme")
    assert learner is not None
    learner.confirm("LinkDown", "BgpFlap")
    learner.confirm("LinkDown", "PacketLoss")
    learner.veto("LinkDown", "PacketLoss")
    inc = c.learn_one(alert("LinkDown", 0, device="r1"), 0, 0)
    joined = c.learn_one(alert("BgpFlap", 5, device="r2"), 0, 5)
    assert joined is inc and inc.status == OPEN
    m = next(m for m in inc.members.values() if m.kind == "BgpFlap")
    assert (m.how, m.cause, m.score) == (LEARNED, "LinkDown", 1.0)
    c.drain()  # ranked once per batch
    assert inc.root_cause == "LinkDown"
    assert c.learn_one(alert("PacketLoss", 6, device="r1"), 0, 6) is not inc
    assert c.learn_one(alert("BgpFlap", 1000, device="r3"), 0, 1000) is not inc  # window


def test_learned_links_with_a_topology_need_neighbouring_sources():
    topo = Topology("device", undirected([("r1", "r2")]))
    c = learned_correlator(topo)
    c.learner("acme").confirm("LinkDown", "BgpFlap")  # type: ignore[union-attr]
    inc = c.learn_one(alert("LinkDown", 0, device="r1"), 0, 0)
    assert c.learn_one(alert("BgpFlap", 1, device="r9"), 0, 1) is not inc
    assert c.learn_one(alert("BgpFlap", 2, device="r2"), 0, 2) is inc


def test_learned_joins_are_bounded_in_radius_and_age():
    """Links chain: along a line of devices r0-r1-r2-... each alert is near the last, but
    an incident stays within max_hops of its first device and max_age of its start."""
    topo = Topology("device", undirected([(f"r{i}", f"r{i + 1}") for i in range(5)]))
    c = Correlator(
        [],
        learned=LearnedJoin(min_score=0.5, max_hops=1, max_age=100),
        learner_type=CausalLearner,
        topology=topo,
    )
    c.learner("acme").confirm("LinkDown", "LinkDown")  # type: ignore[union-attr]

    def down(t: float, device: str):  # type: ignore[no-untyped-def]
        return c.learn_one(alert("LinkDown", t, device=device, n=str(t)), 0, t)

    first = down(0, "r0")
    assert down(10, "r1") is first
    far = down(20, "r2")  # near r1, but 2 hops from r0
    assert far is not first
    assert down(60, "r0") is first
    late = down(110, "r1")  # within the window of first's last alert (on r0, at 60)
    assert late is not first  # but first is older than max_age


def test_topology_within_counts_hops():
    topo = Topology("device", undirected([("a", "b"), ("b", "c"), ("c", "d")]))
    assert topo.within("t", "a", "a", 0) and not topo.within("t", "a", "b", 0)
    assert topo.within("t", "a", "b", 1) and not topo.within("t", "a", "c", 1)
    assert topo.within("t", "a", "c", 2) and topo.within("t", "d", "a", 3)
    assert not topo.within("t", "a", "zz", 9)


def test_merge_and_split_by_hand():
    c = by_cluster()
    a = c.learn_one(alert("A", 0, cluster="eu"), 0, 0)
    c.learn_one(alert("B", 1, cluster="eu"), 0, 1)
    b = c.learn_one(alert("C", 2, cluster="us"), 0, 2)
    c.drain()
    merged = c.merge(a.id, [b.id])
    assert merged is a and len(a.members) == 3 and b.status == INC_RESOLVED
    fp_c = alert("C", 2, cluster="us").fingerprint
    assert c.member_of[fp_c] == a.id
    # a later "us" alert follows the index to the merged incident
    assert c.learn_one(alert("D", 3, cluster="us"), 0, 3) is a
    changes = c.drain()
    assert (0, b.id, fp_c) in changes.gone_members
    assert (a.id, fp_c) in [(i.id, m.fingerprint) for i, m in changes.members]
    assert tuple(w for i, w in changes.events if i in (a, b)) == ("merged", "merged")
    out = c.split(a.id, [fp_c], 4)
    assert set(out.members) == {fp_c} and c.member_of[fp_c] == out.id
    try:
        c.split(a.id, list(a.members), 5)
    except ValueError as exc:
        assert "at least one member" in str(exc)
    else:
        raise AssertionError("a split taking every member must fail")


def replay(c: Correlator) -> Correlator:
    """A new correlator from what ``c`` persisted (headers and members, as the table)."""
    headers: dict[str, dict] = {}
    members: dict[tuple[str, str], dict] = {}
    changes = c.drain()
    for inc in changes.incidents:
        headers[inc.id] = inc.header()
    for inc, m in changes.members:
        members[(inc.id, m.fingerprint)] = m.to_wire()
    for _, iid, fp in changes.gone_members:
        members.pop((iid, fp), None)
    fresh = by_cluster(window=60)
    restored = {i: Incident.from_header(h) for i, h in headers.items()}
    for (iid, _), m in sorted(members.items(), key=lambda kv: kv[1]["joined_at"]):
        restored[iid].restore(Member.from_wire(m))
    fresh.load(restored.values())
    return fresh


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C"]),
            st.sampled_from(["eu", "us"]),
            st.integers(0, 30),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_every_firing_alert_in_one_incident_and_a_restore_decides_alike(events):
    c = by_cluster(window=60)
    t = 0.0
    for name, cluster, gap, firing in events:
        t += gap
        c.learn_one(alert(name, t, FIRING if firing else RESOLVED, cluster=cluster), 0, t)
    for inc in c.incidents.values():  # counts agree with members
        assert inc.firing == sum(m.firing for m in inc.members.values())
        assert inc.status != OPEN or inc.firing >= 1
    holders = {}
    for inc in c.incidents.values():
        for fp, m in inc.members.items():
            if m.firing and inc.alive:
                assert fp not in holders  # one live incident per firing alert
                holders[fp] = inc.id
    fresh = replay(c)
    probe = alert("Z", t + 1, cluster="eu")
    want, got = c.score_one(probe, t + 1), fresh.score_one(probe, t + 1)
    assert (want and want.incident.id) == (got and got.incident.id)


def test_defaults_learn_a_recurring_pattern_and_leave_noise_alone():
    """No rules, nothing tuned: after a LinkDown followed by a BgpFlap on one device has
    recurred, the pair becomes one incident; an unrelated alert in between stays out."""
    c = CorrelationConfig().build()
    rng = random.Random(7)
    joined = []
    for k in range(400):  # the learner reads its graph again every 1000 alerts
        t = k * 1000.0
        down = c.learn_one(alert("LinkDown", t, device=f"r{k}"), 0, t)
        noise = c.learn_one(alert("HighCpu", t + 2, device=f"h{rng.randrange(99)}"), 0, t + 2)
        flap = c.learn_one(alert("BgpFlap", t + 5, device=f"r{k}"), 0, t + 5)
        assert noise is not down
        joined.append(flap is down)
    assert not joined[0] and all(joined[-50:])
    c.drain()
    m = next(m for m in flap.members.values() if m.kind == "BgpFlap")  # type: ignore[union-attr]
    assert m.how == LEARNED and m.cause == "LinkDown" and down.root_cause == "LinkDown"


def test_gc_keeps_resolved_incidents_for_the_retention_and_drops_candidates():
    c = Correlator(
        [CorrelationRule("outage", ("cluster",))],
        learned=LearnedJoin(),
        learner_type=CausalLearner,
    )
    inc = c.learn_one(alert("A", 0, cluster="eu", device="r1"), 0, 0)
    c.learn_one(alert("B", 1, cluster="eu", device="r2"), 0, 1)
    lone = c.learn_one(alert("C", 2, cluster="us", device="r3"), 0, 2)
    for name, cluster, device in [("A", "eu", "r1"), ("B", "eu", "r2"), ("C", "us", "r3")]:
        c.learn_one(alert(name, 10, RESOLVED, cluster=cluster, device=device), 0, 10)
    assert inc.status == lone.status == INC_RESOLVED
    c.drain()
    c.gc(100, retention=3600)
    assert inc.id in c.incidents and lone.id not in c.incidents  # a candidate: gone
    assert not c.recent  # sources quiet for longer than the window
    c.gc(3611, retention=3600)
    assert not c.incidents and not c.member_of and not c.index
    gone = c.drain()
    assert set(gone.gone) == {inc.id, lone.id} and len(gone.gone_members) == 3
