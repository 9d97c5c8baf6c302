"""Contract test over every registered detector (as River does); AutoThreshold, Forecaster."""

from __future__ import annotations

import math
import random

import pytest

from models.detectors import DETECTORS, Detector, make_detector
from models.detectors.forecast import Forecaster
from models.detectors.threshold import AutoThreshold, parse_auto

NAMES = [*sorted(DETECTORS), "default"]
STEP = 300.0


def series(n: int = 1500, seed: int = 7) -> list[tuple[float, float]]:
    """Daily cycle + noise + a few spikes and a level shift, 5-minute steps."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        v = 50 + 10 * math.sin(2 * math.pi * i / 288) + rng.gauss(0, 1)
        if i in (700, 1100):
            v += 60
        if i > 1300:
            v += 25
        out.append((v, 1.6e9 + i * STEP))
    return out


def run(det: Detector, data) -> list[float]:
    out = []
    for v, t in data:
        out.append(det.score_one(v, t))
        det.learn_one(v, t)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_score_range_and_anomaly_seen(name):
    det = make_detector(name)
    scores = run(det, series())
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert max(scores[650:1350]) > max(scores[400:650])  # the spike stands out


@pytest.mark.parametrize("name", NAMES)
def test_never_the_future(name):
    data = series()
    other = data[:1000] + [(v + 100.0, t) for v, t in data[1000:]]
    a, b = run(make_detector(name), data), run(make_detector(name), other)
    assert a[:1000] == b[:1000]
    # score_one does not learn: asking twice changes nothing
    det = make_detector(name)
    run(det, data[:500])
    v, t = data[500]
    assert det.score_one(v, t) == det.score_one(v, t)
    det2 = make_detector(name)
    run(det2, data[:500])
    assert run(det, data[500:]) == run(det2, data[500:])


@pytest.mark.parametrize("name", NAMES)
def test_serialisation_round_trip(name):
    data = series()
    det = make_detector(name)
    run(det, data[:900])
    blob = det.to_bytes()
    assert isinstance(blob, bytes)
    assert len(blob) < 16_384, len(blob)
    assert b"pickle" not in blob
    clone = type(det).from_bytes(blob)
    assert type(clone) is type(det)
    assert run(clone, data[900:]) == run(det, data[900:])
    assert clone.to_bytes() == det.to_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_constant_series_not_stuck(name):
    det = make_detector(name)
    flat = [(5.0, 1.6e9 + i * STEP) for i in range(1200)]
    scores = run(det, flat)
    assert max(scores[400:]) < 0.5
    # a step, then constant at the new level: the alarm must not last forever
    step = [(9.0, 1.6e9 + (1200 + i) * STEP) for i in range(1500)]
    after = run(det, step)
    assert after[-1] < 0.5
    zeros = run(make_detector(name), [(0.0, 1.6e9 + i * STEP) for i in range(800)])
    assert max(zeros) < 0.5


@pytest.mark.parametrize("name", NAMES)
def test_nan_inf_gaps_duplicates_safe(name):
    data = series(800)
    det = make_detector(name)
    ref = make_detector(name)
    bad = [float("nan"), float("inf"), -float("inf")]
    out, out_ref = [], []
    for i, (v, t) in enumerate(data):
        if i % 97 == 0:
            x = bad[i % 3]
            s = det.score_one(x, t)
            assert 0.0 <= s <= 1.0
            det.learn_one(x, t)
        out.append(det.score_one(v, t))
        det.learn_one(v, t)
        out_ref.append(ref.score_one(v, t))
        ref.learn_one(v, t)
    assert out == out_ref  # non-finite values are ignored, not learned
    # gaps and duplicated / out-of-order timestamps
    t = data[-1][1]
    for ts in (t, t, t + 86400 * 30, t + 86400 * 30, t + 86400 * 29):
        s = det.score_one(55.0, ts)
        assert 0.0 <= s <= 1.0
        det.learn_one(55.0, ts)
    type(det).from_bytes(det.to_bytes())


@pytest.mark.parametrize("name", NAMES)
def test_expected_range(name):
    det = make_detector(name)
    assert det.expected_range() is None  # warming up: nothing learned yet
    data = series(601)
    run(det, data[:600])
    band = det.expected_range()
    assert band is not None, f"{name}: no band after 600 points"
    lo, hi = band
    assert math.isfinite(lo) and math.isfinite(hi) and lo < hi
    # the next point (noiseless 50 + 10 sin(2 pi 600/288) = 55) is inside the band,
    # a spike as large as the series' own (+60) is above it
    assert lo < 55.0 < hi, band
    assert lo < data[600][0] < hi, (band, data[600][0])
    assert hi < 55.0 + 60.0, band


def test_registry():
    assert {"ensemble", "zscore", "ewma"} <= set(DETECTORS)
    with pytest.raises(KeyError):
        make_detector("nope")
    assert isinstance(make_detector("default"), Detector)


def test_auto_threshold_band_and_quantile():
    rng = random.Random(1)
    th = AutoThreshold(0.99)
    assert th.band() is None
    for i in range(20000):
        th.learn_one(rng.gauss(0, 1), i * 60.0)
    lo, hi = th.band()
    assert hi == pytest.approx(2.326, abs=0.15) and lo == pytest.approx(-2.326, abs=0.15)
    assert th.score_one(0.0) == 0.0 and 0.0 < th.score_one(10.0) < 1.0
    assert th.is_anomalous(-10.0)
    clone = AutoThreshold.from_bytes(th.to_bytes())
    assert clone.band() == th.band()
    th.learn_one(float("nan"))
    assert clone.band() == th.band()


def test_auto_threshold_seasonal():
    th = AutoThreshold(0.999, seasonality="hour")
    for i in range(14 * 24 * 12):  # two weeks of 5-minute points
        ts = i * 300.0
        th.learn_one(100.0 if (ts // 3600) % 24 == 12 else 10.0, ts)
    noon, night = th.band(12 * 3600.0 + 60), th.band(3 * 3600.0)
    assert noon[0] > 50 and night[1] < 50
    assert th.score_one(100.0, 3 * 3600.0) > 0.0 and th.score_one(100.0, 12 * 3600.0) == 0.0


def test_parse_auto():
    assert parse_auto("auto") == 0.999
    assert parse_auto("auto(p99.9)") == 0.999
    assert parse_auto("auto(p99)") == 0.99
    assert parse_auto("> 5") is None
    with pytest.raises(ValueError):
        parse_auto("auto(p20)")


def test_forecaster_linear_trend():
    rng = random.Random(0)
    f = Forecaster()
    assert f.time_to_cross(100, 3600) is None
    for i in range(500):  # +0.01 per minute from 50, noisy, with a spike
        f.learn_one(50 + 0.01 * i + rng.gauss(0, 0.5) + (40 if i == 300 else 0), i * 60.0)
    assert f.slope * 60 == pytest.approx(0.01, rel=0.25)
    ttc = f.time_to_cross(100, 30 * 86400)
    assert ttc == pytest.approx((100 - 55) / 0.01 * 60, rel=0.2)
    assert f.time_to_cross(100, 3600) is None  # not within the horizon
    assert f.time_to_cross(0, 30 * 86400) is None  # trend goes the other way
    clone = Forecaster.from_bytes(f.to_bytes())
    assert clone.time_to_cross(100, 30 * 86400) == ttc


def test_forecaster_seasonal_and_flat():
    rng = random.Random(0)
    f = Forecaster(seasonal=True, tau=2 * 86400)
    for i in range(20000):
        v = 50 + 0.001 * i + 10 * math.sin(2 * math.pi * i / 1440) + rng.gauss(0, 0.5)
        f.learn_one(v, i * 60.0)
    assert f.slope * 60 == pytest.approx(0.001, rel=0.3)
    ttc = f.time_to_cross(100, 40 * 86400)
    assert ttc is not None and 8 * 86400 < ttc < 25 * 86400
    flat = Forecaster()
    for i in range(100):
        flat.learn_one(7.0, i * 60.0)
        flat.learn_one(7.0, i * 60.0)  # duplicated timestamps
    assert flat.time_to_cross(10, 86400) is None
    assert flat.forecast(1e6) == pytest.approx(7.0)


def test_weekly_option_round_trip():
    data = series(2500)
    det = make_detector("default", scorers=("residual", "gauss", "seasonal", "weekly"))
    run(det, data[:2000])
    blob = det.to_bytes()
    assert len(blob) < 16_384
    clone = type(det).from_bytes(blob)
    assert run(clone, data[2000:]) == run(det, data[2000:])
