"""Run our detectors over the NAB corpus and print a Markdown table next to the scoreboard.

    python -m benchmarks.nab.run [--data PATH] [--detector NAME ...] [--params JSON] [--procs N]

Each file is streamed through a fresh detector from `models.detectors` (score_one, then
learn_one, row by row, never seeing the future); the three profiles are scored with the
corpus-wide threshold sweep of `benchmarks.nab.scorer`. The per-point cost is the wall time
of the score+learn loop (time.perf_counter around the whole file) over the number of rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from benchmarks.nab.scorer import (
    PROFILE_LABELS,
    PROFILES,
    NabFile,
    load_corpus,
    score_all_profiles,
)
from models.detectors import make_detector

REPO = Path(__file__).resolve().parents[2]

PUBLISHED: list[tuple[str, float, float, float]] = [
    ("ARTime", 74.9, 65.1, 80.4),
    ("Numenta HTM", 70.5, 62.6, 75.2),
    ("CAD OSE", 69.9, 67.0, 73.2),
    ("earthgecko Skyline", 58.2, 46.2, 63.9),
    ("KNN CAD", 58.0, 43.4, 64.8),
    ("Relative Entropy", 54.6, 47.6, 58.8),
    ("Random Cut Forest", 51.7, 38.4, 59.7),
    ("Twitter ADVec", 47.1, 33.6, 53.5),
    ("Windowed Gaussian", 39.6, 20.9, 47.4),
    ("Etsy Skyline", 35.7, 27.1, 44.5),
    ("Bayesian Changepoint", 17.7, 3.2, 32.2),
    ("Random", 11.0, 1.2, 19.5),
]


def default_data_path() -> Path:
    """../shared/nab relative to the repo root, else /work/shared/nab."""
    cand = REPO.parent / "shared" / "nab"
    if (cand / "labels" / "combined_windows.json").exists():
        return cand
    return Path("/work/shared/nab")


def run_file(
    name: str, f: NabFile, params: dict[str, Any] | None = None
) -> tuple[list[float], float]:
    """Stream one file through a fresh detector; return its scores and the loop's seconds."""
    det = make_detector(name, **(params or {}))
    score, learn = det.score_one, det.learn_one
    out = [0.0] * len(f)
    t0 = time.perf_counter()
    for i, (v, t) in enumerate(zip(f.values, f.timestamps, strict=True)):
        out[i] = score(v, t)
        learn(v, t)
    return out, time.perf_counter() - t0


def _job(args: tuple[str, NabFile, dict[str, Any] | None]) -> tuple[list[float], float]:
    return run_file(*args)


def run_detector(
    name: str, files: list[NabFile], params: dict[str, Any] | None = None, procs: int = 1
) -> tuple[list[list[float]], float]:
    """Scores for every file and the mean cost in µs per point (score + learn)."""
    jobs = [(name, f, params) for f in files]
    if procs > 1:
        with Pool(min(procs, 2)) as pool:
            res = pool.map(_job, jobs, chunksize=1)
    else:
        res = [_job(j) for j in jobs]
    points = sum(len(f) for f in files)
    seconds = sum(r[1] for r in res)
    return [r[0] for r in res], 1e6 * seconds / max(points, 1)


def markdown_table(rows: list[tuple[str, float, float, float, str]]) -> str:
    lines = [
        "| detector | " + " | ".join(PROFILE_LABELS[p] for p in PROFILES) + " | µs/point |",
        "|---|---|---|---|---|",
    ]
    for name, a, b, c, cost in rows:
        lines.append(f"| {name} | {a:.1f} | {b:.1f} | {c:.1f} | {cost} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="NAB root (data/ and labels/)")
    ap.add_argument("--detector", action="append", help="registry name (repeatable)")
    ap.add_argument("--params", default=None, help="JSON dict of constructor params")
    ap.add_argument("--procs", type=int, default=1, help="worker processes (≤ 2)")
    args = ap.parse_args(argv)
    root = args.data or default_data_path()
    if not (root / "labels" / "combined_windows.json").exists():
        print(f"NAB corpus not found under {root}", file=sys.stderr)
        return 2
    params = json.loads(args.params) if args.params else None
    files = load_corpus(root)
    print(f"NAB corpus: {len(files)} files, {sum(len(f) for f in files)} rows from {root}\n")
    ours = []
    for name in args.detector or ["default"]:
        scores, cost = run_detector(name, files, params, args.procs)
        res = score_all_profiles(files, scores)
        vals = [res[p].normalized for p in PROFILES]
        std = res["standard"]
        print(
            f"{name}: threshold {std.threshold:.4f}, TP {std.tp} FN {std.fn} FP {std.fp} "
            f"(standard profile)",
            file=sys.stderr,
        )
        ours.append((f"**alertstream {name}**", *vals, f"{cost:.1f}"))
    rows = ours + [(n, a, b, c, "") for n, a, b, c in PUBLISHED]
    rows.sort(key=lambda r: -r[1])
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
