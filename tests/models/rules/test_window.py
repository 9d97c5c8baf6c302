"""Each window aggregate against values worked out by hand: out-of-order samples and a
counter reset included."""

from __future__ import annotations

import pytest

from models.rules.window import AGGREGATES, new_aggregate

# (ts, value) in arrival order: 1001 arrives late; 14 -> 3 is a counter reset
SAMPLES = [(1000.0, 10.0), (1002.0, 14.0), (1001.0, 12.0), (1004.0, 3.0), (1006.0, 7.0)]
EXPECTED = {
    "avg": 9.2,  # 46 / 5
    "min": 3.0,
    "max": 14.0,
    "sum": 46.0,
    "count": 5.0,
    "last": 7.0,  # the newest timestamp's value, not the last to arrive
    "rate": 11 / 6,  # +4, (1001 is older than 1002: skipped), reset +3, +4 over 6 s
    "p50": 10.0,  # sorted 3 7 10 12 14
    "p90": 13.2,
    "p95": 13.6,
    "p99": 13.92,
}


def test_every_aggregate_has_a_known_answer():
    assert set(EXPECTED) == set(AGGREGATES)


@pytest.mark.parametrize("how", AGGREGATES)
def test_aggregate_of_one_window(how):
    agg = new_aggregate(how)()
    for ts, value in SAMPLES:
        agg.add(value, ts)
    assert agg.result(window=10.0) == pytest.approx(EXPECTED[how])


def test_rate_of_a_single_sample_is_spread_over_the_window():
    agg = new_aggregate("rate")()
    agg.add(5.0, 1000.0)
    assert agg.result(window=10.0) == 0.0


def test_aggregates_do_not_share_state():
    a, b = new_aggregate("p50")(), new_aggregate("p50")()
    a.add(1.0, 0.0)
    b.add(3.0, 0.0)
    assert (a.result(10.0), b.result(10.0)) == (1.0, 3.0)
