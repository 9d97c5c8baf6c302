"""NAB scorer, written from /work/shared/nab/SCORING.md (no NAB code copied).

Why our own: the pipeline's detectors must be judged by the same rules as the published
scoreboard, without pulling NAB's code base in. The sweep over thresholds is exact: every
distinct score is tried (plus "never fire") and the corpus raw score is updated
incrementally, so one profile costs O(N log N) over the whole corpus.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PROFILES: dict[str, tuple[float, float, float]] = {
    # name: (A_TP, A_FP, A_FN)
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}
PROFILE_LABELS = {
    "standard": "standard",
    "reward_low_FP_rate": "low FP",
    "reward_low_FN_rate": "low FN",
}
PROBATION_FRACTION = 0.15
PROBATION_CAP = 750


def scaled_sigmoid(y: float) -> float:
    """NAB's sigma(y) = 2/(1+e^(5y)) - 1, fixed at -1 once y > 3 (far past a window)."""
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)  # 0.98661: value at a window's left edge


def probation_length(n: int) -> int:
    """Rows at the start of a file that are not scored."""
    return min(math.floor(PROBATION_FRACTION * n), PROBATION_CAP)


def parse_ts(text: str) -> float:
    """NAB timestamps are naive 'YYYY-MM-DD HH:MM:SS[.ffffff]'; read them as UTC epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@dataclass
class NabFile:
    """One data file: its values, epoch timestamps and label windows as row index ranges."""

    name: str
    timestamps: list[float]
    values: list[float]
    windows: list[tuple[int, int]] = field(default_factory=list)  # inclusive row ranges

    def __len__(self) -> int:
        return len(self.values)


def windows_to_rows(timestamps: Sequence[float], windows: Iterable[tuple[float, float]]):
    """Map [start, end] time windows to inclusive row ranges (rows whose time is inside)."""
    out: list[tuple[int, int]] = []
    for start, end in windows:
        rows = [i for i, t in enumerate(timestamps) if start <= t <= end]
        if rows:
            out.append((rows[0], rows[-1]))
    return sorted(out)


def load_corpus(root: str | Path, names: Iterable[str] | None = None) -> list[NabFile]:
    """Read data/<cat>/<file>.csv and labels/combined_windows.json under root."""
    root = Path(root)
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    wanted = sorted(labels) if names is None else list(names)
    files = []
    for name in wanted:
        ts: list[float] = []
        vals: list[float] = []
        with open(root / "data" / name, newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            for row in reader:
                ts.append(parse_ts(row[0]))
                vals.append(float(row[1]))
        wins = [(parse_ts(a), parse_ts(b)) for a, b in labels.get(name, [])]
        files.append(NabFile(name, ts, vals, windows_to_rows(ts, wins)))
    return files


def row_sigmas(n: int, windows: Sequence[tuple[int, int]]) -> tuple[list[int], list[float]]:
    """Per row: the index of its window (-1 outside) and the unweighted sigma a detection earns.

    Inside a window of width W: y = -(rows to the right edge, inclusive)/W.
    After a window: y = (rows past its right edge)/(W - 1). Before any window: -1.
    """
    win_id = [-1] * n
    sig = [-1.0] * n
    prev_right: int | None = None
    prev_width = 0
    wins = sorted(windows)
    k = 0
    i = 0
    while i < n:
        if k < len(wins) and wins[k][0] <= i <= wins[k][1]:
            left, right = wins[k]
            width = right - left + 1
            for j in range(left, right + 1):
                win_id[j] = k
                sig[j] = scaled_sigmoid(-(right - j + 1) / width)
            prev_right, prev_width = right, width
            i = right + 1
            k += 1
            continue
        if prev_right is not None:
            denom = max(prev_width - 1, 1)
            sig[i] = scaled_sigmoid((i - prev_right) / denom)
        i += 1
    return win_id, sig


@dataclass
class ProfileResult:
    profile: str
    threshold: float
    raw: float
    normalized: float
    tp: int
    fp: int
    fn: int


def score_corpus(
    files: Sequence[NabFile], scores: Sequence[Sequence[float]], profile: str = "standard"
) -> ProfileResult:
    """Best corpus-wide threshold for one profile, and the normalised score it gives."""
    a_tp, a_fp, a_fn = PROFILES[profile]
    rows: list[tuple[float, int, float]] = []  # (score, global window id or -1, weighted value)
    n_windows = 0
    for f, s in zip(files, scores, strict=True):
        if len(s) != len(f):
            raise ValueError(f"{f.name}: {len(s)} scores for {len(f)} rows")
        win_id, sig = row_sigmas(len(f), f.windows)
        for i in range(probation_length(len(f)), len(f)):
            w = win_id[i]
            if w >= 0:
                rows.append((float(s[i]), n_windows + w, sig[i] * a_tp / MAX_TP))
            else:
                rows.append((float(s[i]), -1, sig[i] * a_fp))
        n_windows += len(f.windows)
    rows.sort(key=lambda r: -r[0])

    best_window = [None] * n_windows  # best TP value so far per window
    total = -a_fn * n_windows
    best = (total, math.inf, 0, 0)  # (raw, threshold, tp, fp); "never fire" first
    tp = fp = 0
    i = 0
    while i < len(rows):
        thr = rows[i][0]
        while i < len(rows) and rows[i][0] == thr:
            _, w, val = rows[i]
            if w < 0:
                total += val
                fp += 1
            else:
                cur = best_window[w]
                if cur is None:
                    total += val + a_fn
                    best_window[w] = val
                    tp += 1
                elif val > cur:
                    total += val - cur
                    best_window[w] = val
            i += 1
        if total > best[0] + 1e-12:
            best = (total, thr, tp, fp)
    raw, thr, tp, fp = best
    perfect = a_tp * n_windows
    null = -a_fn * n_windows
    norm = 100.0 * (raw - null) / (perfect - null) if n_windows else 0.0
    return ProfileResult(profile, thr, raw, norm, tp, fp, n_windows - tp)


def score_all_profiles(files, scores) -> dict[str, ProfileResult]:
    return {p: score_corpus(files, scores, p) for p in PROFILES}
