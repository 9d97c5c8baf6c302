"""Recommendations on synthetic histories: a flapping rule, a rule nobody acts on,
two groups that always arrive together, a threshold a learned band would serve
better; and incident acks and resolves as actions."""

from __future__ import annotations

import random

import pytest

from models.analytics.actions import action_event
from models.analytics.recommend import Thresholds, learned_band, recommend
from models.analytics.spec import AnalyticsSpec
from models.analytics.tracker import episodes
from tests.models.analytics.synthetic import T0, DictStore

TH = Thresholds(min_fired=10, min_flaps=3, flap_window=3600, target=0.9, min_together=5)


def alert(fp, rule, at, status, gk=None):
    ev = {"kind": "alert", "fingerprint": fp, "status": status, "at": at,
          "labels": {"alertname": rule}}  # fmt: skip
    out = [ev]
    if gk and status == "firing":
        out.append({"kind": "notification", "receiver": "r", "group_key": gk,
                    "new_firing": [fp], "at": at})  # fmt: skip
    return out


def run(events):
    store = DictStore()
    store.feed("acme", sorted(events, key=lambda e: e["at"]), AnalyticsSpec())
    return recommend(episodes(store.scan, "acme", T0 - 86400, T0 + 40 * 86400), TH)


def test_flapping_rule_gets_hold_and_for_values_that_remove_the_flaps():
    rng = random.Random(7)
    events, t = [], T0
    gaps, firings = [], []
    for _ in range(40):  # one alert: fires for 20-100 s, clears for 30-240 s, again
        on, off = rng.uniform(20, 100), rng.uniform(30, 240)
        firings.append(on)
        gaps.append(off)
        events += alert("f1", "Flappy", t, "firing") + alert("f1", "Flappy", t + on, "resolved")
        t += on + off
    events += alert("s1", "Steady", T0, "firing") + alert("s1", "Steady", T0 + 600, "resolved")
    [rec] = [r for r in run(events) if r["kind"] == "flapping_rule"]
    assert rec["rule"] == "Flappy" and rec["evidence"]["flaps"] == 39
    hold, wait = rec["keep_firing_for"], rec["for"]
    # replayed by hand: the share of the 39 gaps a hold of `hold` bridges, and of the
    # firings before them that a `for:` of `wait` would have kept from firing
    bridged = sum(1 for g in gaps[:39] if g <= hold) / 39
    shorter = sum(1 for f in firings[:39] if f < wait) / 39
    assert rec["expected_reduction"]["keep_firing_for"]["share"] == pytest.approx(bridged)
    assert rec["expected_reduction"]["for"]["share"] == pytest.approx(shorter)
    assert bridged >= 0.9 and shorter >= 0.9
    assert hold == 300 and wait == 120  # the 90th percentiles rounded up to 5m and 2m
    assert "keep_firing_for: 5m" in rec["suggestion"] and "for: 2m" in rec["suggestion"]


def test_rule_never_acknowledged_is_noise_and_an_acknowledged_one_is_not():
    events = []
    for i in range(12):
        at = T0 + i * 7200
        events += alert(f"n{i}", "Noise", at, "firing") + alert(
            f"n{i}", "Noise", at + 60, "resolved"
        )
        events += alert(f"u{i}", "Useful", at, "firing")
        if i == 3:
            events.append({"kind": "action", "op": "ack", "fingerprints": [f"u{i}"], "at": at + 5})
        events += alert(f"u{i}", "Useful", at + 60, "resolved")
    noisy = [r for r in run(events) if r["kind"] == "noisy_rule"]
    assert [r["rule"] for r in noisy] == ["Noise"]
    assert noisy[0]["evidence"]["fired"] == 12
    assert noisy[0]["expected_reduction"] == {"alerts": 12, "share": 0.5}


def test_groups_that_always_arrive_together():
    events = []
    for i in range(8):
        at = T0 + i * 5000
        events += alert(f"db{i}", "DbDown", at, "firing", '{}:{alertname="DbDown"}')
        events += alert(f"api{i}", "ApiErrors", at + 20, "firing", '{}:{alertname="ApiErrors"}')
        events += alert(f"db{i}", "DbDown", at + 600, "resolved")
        events += alert(f"api{i}", "ApiErrors", at + 600, "resolved")
    # a third group, on its own schedule
    for i in range(8):
        at = T0 + 2500 + i * 5000
        events += alert(f"x{i}", "Disk", at, "firing", '{}:{alertname="Disk"}')
        events += alert(f"x{i}", "Disk", at + 60, "resolved")
    [rec] = [r for r in run(events) if r["kind"] == "arrive_together"]
    assert rec["groups"] == ['{}:{alertname="DbDown"}', '{}:{alertname="ApiErrors"}']
    assert rec["evidence"]["together"] == 8
    assert rec["evidence"]["first_rules"] == ["DbDown"]
    assert rec["expected_reduction"] == {"notifications": 8, "share": 1.0}
    assert "inhibit ApiErrors while DbDown fires" in rec["suggestion"]


def test_threshold_rule_a_learned_band_would_have_kept_quiet():
    """CpuHigh (cpu > 80) fired 20 times, 2 acted on; three of the four cpu series
    learned a band reaching past 80 (their normal range), one learned 10-60. DiskFull
    (disk > 90) is as ignored but its series' band stays under 90: the band would fire
    too, so no suggestion; MemHigh is acted on: none either."""
    events = []
    for i in range(20):
        at = T0 + i * 3600
        for rule in ("CpuHigh", "DiskFull", "MemHigh"):
            fp = f"{rule}{i}"
            events += alert(fp, rule, at, "firing")
            if (rule == "CpuHigh" and i < 2) or rule == "MemHigh":
                events.append({"kind": "action", "op": "ack", "fingerprints": [fp], "at": at + 9})
            events += alert(fp, rule, at + 300, "resolved")
    rules = [
        {"rule": "CpuHigh", "metric": "cpu", "op": ">", "threshold": 80.0},
        {"rule": "DiskFull", "metric": "disk", "op": ">", "threshold": 90.0},
        {"rule": "MemHigh", "metric": "mem", "op": ">", "threshold": 70.0},
    ]
    bands = [
        {"metric": "cpu", "labels": {"host": f"h{i}"}, "band": [20.0, 85.0 + i]} for i in range(3)
    ]
    bands += [
        {"metric": "cpu", "labels": {"host": "h9"}, "band": [10.0, 60.0]},
        {"metric": "disk", "labels": {"host": "h1"}, "band": [40.0, 70.0]},
        {"metric": "mem", "labels": {"host": "h1"}, "band": [40.0, 95.0]},
    ]
    store = DictStore()
    store.feed("acme", sorted(events, key=lambda e: e["at"]), AnalyticsSpec())
    found = recommend(episodes(store.scan, "acme", T0 - 86400, T0 + 40 * 86400), TH, rules, bands)
    [rec] = [r for r in found if r["kind"] == "learned_band"]
    assert rec["rule"] == "CpuHigh"
    ev = rec["evidence"]
    assert (ev["fired"], ev["acted_on"], ev["series"], ev["series_band_holds_threshold"]) == (
        20,
        2,
        4,
        3,
    )
    assert ev["band_edge"] == 87.0 and len(ev["examples"]) == 3
    # 18 alerts nobody acted on, three quarters of the series: 13.5 -> 14 of 20
    assert rec["expected_reduction"] == {"alerts": 14, "share": 0.7}
    assert "condition: auto" in rec["suggestion"]


def test_below_thresholds_are_held_by_the_band_s_low_edge():
    es = [{"rule": "LowDisk", "fp": f"f{i}", "fired": T0 + i} for i in range(10)]
    rules = [{"rule": "LowDisk", "metric": "free", "op": "<", "threshold": 20.0}]
    low = [{"metric": "free", "labels": {}, "band": [5.0, 50.0]}]
    high = [{"metric": "free", "labels": {}, "band": [25.0, 50.0]}]
    [rec] = learned_band(es, rules, low, TH)
    assert rec["evidence"]["band_edge"] == 5.0
    assert rec["expected_reduction"] == {"alerts": 10, "share": 1.0}
    assert learned_band(es, rules, high, TH) == []
    assert learned_band(es[:9], rules, low, TH) == []  # fewer than min_fired


def test_incident_acks_and_resolves_count_as_acted_on():
    """An ack of an incident acknowledges its member alerts (and times it), a resolve of
    one counts them acted on; other commands are no action."""
    members = {"inc1": ["a1", "a2"], "inc2": ["b1"]}.get
    events = []
    for fp in ("a1", "a2", "b1", "c1"):
        events += alert(fp, "Db", T0, "firing")
    for cmd, at in (
        ({"op": "incident.ack", "tenant": "acme", "incident": "inc1", "user": "ann"}, T0 + 120),
        ({"op": "incident.resolve", "tenant": "acme", "incident": "inc2"}, T0 + 300),
        ({"op": "incident.merge", "tenant": "acme", "incident": "inc1"}, T0 + 400),
        ({"op": "incident.ack", "tenant": "acme", "incident": "gone"}, T0 + 400),
    ):
        found = action_event(cmd, lambda tenant, incident: members(incident) or [], at)
        if found is not None:
            assert found[0] == "acme"
            events.append(found[1])
    assert [e["op"] for e in events if e["kind"] == "action"] == ["ack", "resolve"]
    store = DictStore()
    store.feed("acme", events, AnalyticsSpec())
    got = {e["fp"]: e for e in episodes(store.scan, "acme", T0 - 1, T0 + 1)}
    assert got["a1"]["acknowledged"] == got["a2"]["acknowledged"] == T0 + 120
    assert got["a1"]["acted"] and got["b1"]["acted"] and not got["c1"].get("acted")
    assert got["b1"].get("acknowledged") is None
