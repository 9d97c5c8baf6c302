"""Recommendations on synthetic histories: a flapping rule, a rule nobody acts on,
and two groups that always arrive together."""

from __future__ import annotations

import random

import pytest

from models.analytics.recommend import Thresholds, recommend
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
