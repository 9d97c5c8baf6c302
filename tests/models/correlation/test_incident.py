"""Incident lifecycle: candidate -> open -> acknowledged -> resolved; merge, split, text."""

from __future__ import annotations

from models.correlation.incident import (
    ACKNOWLEDGED,
    FIRST,
    OPEN,
    PENDING,
    RESOLVED,
    SPLIT,
    Incident,
    Member,
    incident_id,
)


def member(fp: str, kind: str, t: float, **labels: str) -> Member:
    return Member(fp, kind, {"alertname": kind, **labels}, t, FIRST if t == 0 else "r")


def incident(n: int = 0, min_alerts: int = 2) -> Incident:
    inc = Incident("i1", "acme", 0, 0.0, 0.0, min_alerts=min_alerts)
    for i in range(n):
        inc.add(member(f"f{i}", "A" if i == 0 else "B", float(i), cluster="eu"))
    return inc


def test_a_candidate_opens_at_min_alerts_firing():
    inc = incident(1, min_alerts=3)
    assert inc.status == PENDING and not inc.visible
    assert not inc.add(member("f1", "B", 1.0))
    assert inc.add(member("f2", "B", 2.0))  # the third firing alert opens it
    assert inc.status == OPEN and inc.opened_at == 2.0


def test_resolved_members_do_not_count_toward_opening():
    inc = incident(1, min_alerts=2)
    inc.member_resolved("f0", 1.0)
    assert inc.status == RESOLVED  # a candidate whose only alert resolved is done
    inc2 = Incident("i2", "acme", 0, 0.0, 0.0)
    resolved = member("x", "A", 0.0)
    resolved.firing = False
    inc2.add(resolved)
    inc2.add(member("y", "A", 1.0))
    assert inc2.status == PENDING and inc2.firing == 1


def test_resolves_when_every_member_resolved_and_not_before():
    inc = incident(3)
    assert inc.status == OPEN
    assert not inc.member_resolved("f0", 5.0)
    assert not inc.member_resolved("f0", 5.0)  # twice counts once
    assert not inc.member_resolved("f1", 6.0)
    assert inc.member_resolved("f2", 7.0)
    assert (inc.status, inc.resolved_at, inc.resolved_by) == (RESOLVED, 7.0, "alerts")
    assert not inc.alive


def test_a_member_firing_again_counts_again():
    inc = incident(2)
    inc.member_resolved("f1", 3.0)
    assert inc.firing == 1
    inc.fired("f1", 4.0)
    assert inc.firing == 2 and inc.last_at == 4.0


def test_acknowledge_and_resolve_by_hand():
    inc = incident(2)
    assert inc.acknowledge("ann") and inc.status == ACKNOWLEDGED
    assert not inc.acknowledge("bob")  # already
    assert inc.resolve(9.0, "bob")
    assert (inc.status, inc.resolved_by) == (RESOLVED, "bob")
    assert not inc.resolve(10.0, "eve") and not inc.acknowledge("eve")


def test_merge_moves_members_and_resolves_the_source():
    a, b = incident(2), Incident("i2", "acme", 0, -5.0, 8.0)
    b.add(member("g1", "C", 8.0))
    moved = a.absorb(b)
    assert [m.fingerprint for m in moved] == ["g1"]
    assert set(a.members) == {"f0", "f1", "g1"} and a.firing == 3
    assert a.kinds() == {"A": 1, "B": 1, "C": 1} and a.common_labels() == {}
    assert not b.kinds() and b.title() == "incident i2"
    assert (a.started_at, a.last_at) == (-5.0, 8.0)
    assert b.status == RESOLVED and not b.members and "merged into i1" in b.resolved_by


def test_merge_into_a_resolved_incident_reopens_it_when_members_fire():
    a, b = incident(2), incident(2)
    a.resolve(3.0, "ann")
    a.absorb(b)
    assert a.status == OPEN and a.resolved_at == 0.0


def test_split_moves_members_to_a_new_open_incident():
    inc = incident(4)
    out = inc.split_off(["f2", "f3"], "new", 10.0)
    assert set(out.members) == {"f2", "f3"} and out.status == OPEN and out.firing == 2
    assert all(m.how == SPLIT for m in out.members.values())
    assert set(inc.members) == {"f0", "f1"} and inc.firing == 2 and inc.status == OPEN
    assert inc.kinds() == {"A": 1, "B": 1} and out.kinds() == {"B": 2}
    assert inc.common_labels() == out.common_labels() == {"cluster": "eu"}


def test_title_summary_and_records_round_trip():
    inc = incident(3)
    inc.root_cause = "A"
    assert inc.title() == "A and 2 more alerts on cluster=eu"
    assert inc.summary() == "3 alerts (3 firing): B x2, A x1; probable root cause: A"
    back = Incident.from_header(inc.header())
    for m in inc.members.values():
        back.restore(Member.from_wire(m.to_wire()))
    assert back.to_wire() == inc.to_wire()
    wire = inc.to_wire()
    assert [m["fingerprint"] for m in wire["members"]] == ["f0", "f1", "f2"]
    assert "partition" not in wire and wire["alerts"] == 3


def test_ids_are_deterministic():
    assert incident_id("acme", "f", "1.0") == incident_id("acme", "f", "1.0")
    assert incident_id("acme", "f", "1.0") != incident_id("acme", "f", "2.0")
