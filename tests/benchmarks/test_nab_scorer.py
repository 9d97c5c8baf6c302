"""Scorer unit tests on hand-made cases, plus a mini run on two real NAB files (shipped)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# `benchmarks` is not an installed package (pyproject packages: app, agents, tables, models,
# channels): make the repo root importable when pytest runs from the venv's script.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.nab.scorer import (
    MAX_TP,
    NabFile,
    probation_length,
    row_sigmas,
    scaled_sigmoid,
    score_corpus,
)


def _file(n: int, windows: list[tuple[int, int]], name: str = "f.csv") -> NabFile:
    return NabFile(name, [float(i) for i in range(n)], [0.0] * n, windows)


def _corpus():
    # two files of 2000 rows (probation 300), three windows of width 100
    return [_file(2000, [(500, 599), (1500, 1599)], "a.csv"), _file(2000, [(1000, 1099)], "b.csv")]


def _scores(files, fire_at: dict[str, list[int]]):
    out = []
    for f in files:
        s = [0.0] * len(f)
        for i in fire_at.get(f.name, []):
            s[i] = 1.0
        out.append(s)
    return out


def test_sigmoid_anchor_values():
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.5) == -1.0
    assert probation_length(2000) == 300
    assert probation_length(100_000) == 750


def test_row_sigmas_edges():
    win, sig = row_sigmas(1000, [(400, 499)])
    assert win[399] == -1 and win[400] == 0 and win[499] == 0 and win[500] == -1
    assert sig[100] == -1.0  # before any window
    assert sig[400] == pytest.approx(MAX_TP)
    assert sig[499] == pytest.approx(scaled_sigmoid(-1 / 100))
    assert sig[500] < 0 and sig[999] == -1.0


@pytest.mark.parametrize("profile", ["standard", "reward_low_FP_rate", "reward_low_FN_rate"])
def test_perfect_and_silent(profile):
    files = _corpus()
    perfect = _scores(files, {"a.csv": [500, 1500], "b.csv": [1000]})
    assert score_corpus(files, perfect, profile).normalized == pytest.approx(100.0)
    silent = _scores(files, {})
    res = score_corpus(files, silent, profile)
    assert res.normalized == pytest.approx(0.0)
    assert res.tp == 0 and res.fn == 3


def test_false_positive_costs():
    files = _corpus()
    clean = _scores(files, {"a.csv": [500, 1500], "b.csv": [1000]})
    noisy = _scores(files, {"a.csv": [500, 1500, 350, 1900], "b.csv": [1000]})
    r_clean = score_corpus(files, clean)
    r_noisy = score_corpus(files, noisy)
    assert r_noisy.normalized < r_clean.normalized
    assert r_noisy.fp == 2
    # an FP costs twice as much under reward_low_FP_rate
    d_std = r_clean.raw - r_noisy.raw
    d_lfp = (
        score_corpus(files, clean, "reward_low_FP_rate").raw
        - score_corpus(files, noisy, "reward_low_FP_rate").raw
    )
    assert d_lfp == pytest.approx(2 * d_std)


def test_early_beats_late_and_first_detection_counts():
    files = _corpus()
    early = _scores(files, {"a.csv": [510, 1510], "b.csv": [1010]})
    late = _scores(files, {"a.csv": [590, 1590], "b.csv": [1090]})
    both = _scores(files, {"a.csv": [510, 590, 1510], "b.csv": [1010]})
    assert score_corpus(files, early).normalized > score_corpus(files, late).normalized
    # a second detection in the same window neither adds nor costs
    assert score_corpus(files, both).raw == pytest.approx(score_corpus(files, early).raw)


def test_threshold_is_swept():
    files = _corpus()
    s = _scores(files, {"a.csv": [500, 1500], "b.csv": [1000]})
    s[0][350] = 0.5  # a weaker false positive: the sweep should pick a threshold above it
    res = score_corpus(files, s)
    assert res.normalized == pytest.approx(100.0)
    assert 0.5 < res.threshold <= 1.0


def test_probation_rows_ignored():
    files = _corpus()
    s = _scores(files, {"a.csv": [10, 500, 1500], "b.csv": [1000]})
    assert score_corpus(files, s).normalized == pytest.approx(100.0)


# Two real NAB files and their label windows, shipped with the tests (nab_sample/SOURCE.md),
# so the mini run never depends on the full corpus being beside the clone.
NAB_SAMPLE = Path(__file__).resolve().parent / "nab_sample"


def test_mini_run_on_real_files():
    from benchmarks.nab.run import run_detector
    from benchmarks.nab.scorer import load_corpus

    names = [
        "realAdExchange/exchange-2_cpc_results.csv",
        "realTraffic/speed_7578.csv",
    ]
    files = load_corpus(NAB_SAMPLE, names)
    assert all(f.windows for f in files)
    scores, _cost = run_detector("default", files)
    for f, s in zip(files, scores, strict=True):
        assert len(s) == len(f)
        assert all(0.0 <= x <= 1.0 for x in s)
    # label-perfect scores on the same files give 100, the detector something in between
    perfect = []
    for f in files:
        p = [0.0] * len(f)
        for left, _ in f.windows:
            p[left] = 1.0
        perfect.append(p)
    assert score_corpus(files, perfect).normalized == pytest.approx(100.0)
    assert -100.0 < score_corpus(files, scores).normalized <= 100.0
