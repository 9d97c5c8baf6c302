"""Windows against ground truth: counts exact, MTTA/MTTR percentiles within the
sketch's stated relative accuracy of the exact values, over many generated histories."""

from __future__ import annotations

import math
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.analytics import query
from models.analytics.sketch import ACCURACY, Sketch
from models.analytics.spec import AnalyticsSpec
from models.analytics.windows import DAY, HOUR, cover
from tests.models.analytics.synthetic import T0, DictStore, feed_in_batches, generate

SPEC = AnalyticsSpec()
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def exact(values: list[float], q: float) -> float:
    """The value at rank floor(q (n - 1)): the one DDSketch's quantile estimates."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def within(estimate: float, truth: float) -> bool:
    return abs(estimate - truth) <= ACCURACY * truth + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1e7, allow_nan=False), min_size=1, max_size=300))
def test_sketch_quantiles_within_relative_accuracy_and_wire_round_trip(values):
    s = Sketch()
    for v in values:
        s.add(v)
    back = Sketch.from_wire(orjson.loads(orjson.dumps(s.to_wire())))
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        assert within(back.quantile(q), exact(values, q)), (q, back.quantile(q))
    assert back.count == len(values)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.5, 1e6), min_size=2, max_size=200), st.integers(1, 199))
def test_merged_sketches_answer_as_one(values, cut):
    a, b, whole = Sketch(), Sketch(), Sketch()
    for i, v in enumerate(values):
        (a if i < cut else b).add(v)
        whole.add(v)
    a.merge(b)
    for q in (0.5, 0.9, 0.99):
        assert a.quantile(q) == whole.quantile(q)


@pytest.mark.parametrize("seed", range(12))
def test_mtta_mttr_and_counts_against_ground_truth(seed):
    rng = random.Random(seed)
    events, truth = generate(rng, rng.randint(50, 400))
    store = DictStore()
    feed_in_batches(store, "acme", events, SPEC, rng)
    # ranges: the whole history (day windows), and a ragged one (hour windows at the edges)
    for frm, to in ((T0 - 2 * DAY, T0 + 6 * DAY), (T0 + 5 * HOUR + 17, T0 + 2 * DAY + 3 * HOUR)):
        rows = {r["rule"]: r for r in query.combine("rule", query.local_rows(
            store.scan, "acme", "rule", frm, to))}  # fmt: skip
        lo, hi = math.floor(frm / HOUR) * HOUR, math.ceil(to / HOUR) * HOUR  # whole hours
        for rule in {t.rule for t in truth}:
            mine = [t for t in truth if t.rule == rule]
            fired = [t for t in mine if lo <= t.fired < hi]
            acks = [t.acked - t.fired for t in mine if t.acked is not None and lo <= t.acked < hi]
            res = [t.resolved - t.fired for t in mine if t.resolved and lo <= t.resolved < hi]
            row = rows.get(rule)
            if row is None:
                assert not fired and not acks and not res
                continue
            assert row["fired"] == len(fired)
            assert row["acknowledged"] == len(acks)
            assert row["resolved"] == len(res)
            for values, key in ((acks, "time_to_acknowledge"), (res, "time_to_resolve")):
                got = row[key]
                assert got["count"] == len(values)
                for name, q in QUANTILES.items():
                    if values:
                        assert within(got[name], exact(values, q)), (rule, key, name)


def test_a_refire_within_the_flap_window_is_a_flap_and_trend_is_week_over_week():
    store = DictStore()
    labels = {"alertname": "Flappy"}

    def flap(t: float) -> list[dict]:
        return [
            {"kind": "alert", "fingerprint": "f", "status": "firing", "at": t, "labels": labels},
            {"kind": "alert", "fingerprint": "f", "status": "resolved", "at": t + 60},
        ]

    # last week: 2 firings; this week: 5 firings 10 min apart (4 flaps), then one 2 h later
    week = [*flap(T0 - 7 * DAY), *flap(T0 - 7 * DAY + 7200)]
    now = [e for i in range(5) for e in flap(T0 + i * 600)] + flap(T0 + 4 * 600 + 7200)
    store.feed("acme", week + now, SPEC)
    [row] = query.combine("rule", query.local_rows(store.scan, "acme", "rule", T0, T0 + DAY))
    assert (row["fired"], row["flaps"], row["fired_previous_week"]) == (6, 4, 2)
    assert row["flapping_rate"] == pytest.approx(4 / 6)
    assert row["trend_week_over_week"] == pytest.approx(2.0)


def test_cover_uses_days_inside_and_hours_at_the_edges():
    got = list(cover(T0 - T0 % DAY + 3 * HOUR, T0 - T0 % DAY + 2 * DAY + 2 * HOUR))
    assert [r for r, _ in got] == ["h"] * 21 + ["d"] + ["h"] * 2
    starts = [s for _, s in got]
    assert starts == sorted(starts)


def test_an_ack_of_a_group_covers_its_open_alerts_in_every_route_once():
    store = DictStore()
    db, pager = '{}/{team="db"}:{alertname="Down"}', '{}/{sev="page"}:{alertname="Down"}'

    def fire(fp: str, t: float) -> dict:
        labels = {"alertname": "Down"}
        return {"kind": "alert", "fingerprint": fp, "status": "firing", "at": t, "labels": labels}

    def note(gk: str, receiver: str, fps: list[str], t: float) -> dict:
        return {"kind": "notification", "group_key": gk, "receiver": receiver,
                "new_firing": fps, "at": t}  # fmt: skip

    events = [
        fire("a", T0), fire("b", T0 + 10), fire("c", T0 + 20),
        note(db, "db", ["a", "b", "c"], T0 + 30),
        note(pager, "pager", ["a", "b"], T0 + 31),  # a second route (continue: true)
        {"kind": "alert", "fingerprint": "c", "status": "resolved", "at": T0 + 40},
        {"kind": "action", "op": "ack", "group_keys": [pager], "at": T0 + 100},
        {"kind": "escalation", "action": "acknowledged", "group_key": db, "policy": "p",
         "at": T0 + 200},  # the same alerts again: no second ack
    ]  # fmt: skip
    store.feed("acme", events, SPEC)
    rows = {r["receiver"]: r for r in query.combine("receiver", query.local_rows(
        store.scan, "acme", "receiver", T0, T0 + HOUR))}  # fmt: skip
    # alerts count for the first receiver that was told; both were interrupted
    assert (rows["db"]["fired"], rows["pager"]["fired"]) == (3, 0)
    assert rows["db"]["acknowledged"] == 2  # a, b once each: c had resolved
    assert rows["db"]["time_to_acknowledge"]["max"] == pytest.approx(100)  # a, fired at T0
    assert rows["db"]["interruptions_in_hours"] == rows["pager"]["interruptions_in_hours"] == 1
