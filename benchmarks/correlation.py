"""Correlation benchmark: the learned causal graph and alert grouping on real telecom alarms.

Run: ``make bench-correlation`` (``.venv/bin/python -m benchmarks.correlation
[--data DIR] [--window 60] [--pair-window 60] [--grouping module:function] [--tag T]``).

Data: the two PCIC 2021 alarm sets with expert causal graphs in ``../shared/gcastle``
(read its SOURCE.md).  For each set, in one run:

1. **Edges**: the learner (``models/correlation/learner.py``, defaults) makes one
   streaming pass; its edges are scored against ``DAG.npy`` (precision, recall, F1),
   beside the metric's floor (predict every ordered pair), plain lagged co-occurrence
   with the best threshold chosen *on the answer* (an optimistic baseline), and the
   published batch results (THP, PCMCI).  A sensitivity sweep shows how the window and
   the direct-share test move F1.
2. **Grouping**: any function from alarms to incident ids is scored by noise reduction
   (1 - incidents/alarms) and pairwise precision/recall of "same incident" against the
   pairs that share a true causal edge (either direction), on the same or neighbouring
   devices, within a fixed window — no transitive chaining.  Beside it: tumbling time
   windows only, and a reference grouping that joins an alarm to the incident of a
   recent linked alarm by the learned graph alone.
3. **Cost**: alarms/s through the learner and each grouping, and the learner's state.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import subprocess
import tarfile
import time
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.infra import machine
from models.correlation.alarms import Alarm, neighbours_from_matrix, parse_alarms
from models.correlation.learner import CausalLearner

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "gcastle"
RESULTS = ROOT / "benchmarks" / "results"
SETS = ("18V_55N_Wireless", "24V_439N_Microwave")
PUBLISHED = {  # edge F1 from the data set's repository (batch methods)
    "18V_55N_Wireless": {"THP": 0.5765, "PCMCI": 0.4226},
    "24V_439N_Microwave": {"THP": 0.3719, "PCMCI": 0.3268},
}
GOAL = {"18V_55N_Wireless": 0.58, "24V_439N_Microwave": 0.45}
MAX_INCIDENT_AGE = 3600.0  # the reference grouping: an incident takes alarms for 1 h

Grouping = Callable[["DataSet"], Sequence[Hashable]]


@dataclass
class DataSet:
    name: str
    alarms: list[Alarm]
    dag: np.ndarray
    neighbours: dict[str, list[str]] | None

    def near(self, source: str) -> tuple[str, ...]:
        return (source, *((self.neighbours or {}).get(source, ())))


def load(path: Path) -> DataSet:
    """A data set straight from its tarball (nothing extracted)."""
    name = path.name.removesuffix(".tar.gz")
    files: dict[str, bytes] = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member)
            if f is not None:
                files[Path(member.name).name] = f.read()
    alarms = parse_alarms(io.StringIO(files["Alarm.csv"].decode()), f"{name}/Alarm.csv")
    dag = np.load(io.BytesIO(files["DAG.npy"]))
    topology = files.get("Topology.npy")
    neighbours = None
    if topology is not None:
        neighbours = neighbours_from_matrix(np.load(io.BytesIO(topology)).tolist())
    return DataSet(name, alarms, dag, neighbours)


# -- part 1: edges ----------------------------------------------------------------------


def edge_scores(edges: set[tuple[int, int]], dag: np.ndarray) -> dict[str, float]:
    truth = {(int(i), int(j)) for i, j in zip(*np.nonzero(dag), strict=True)}
    hit = len(edges & truth)
    precision = hit / len(edges) if edges else 0.0
    recall = hit / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if hit else 0.0
    return {
        "f1": round(f1, 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "edges": len(edges),
    }


def predict_all(dag: np.ndarray) -> dict[str, float]:
    n = dag.shape[0]
    return edge_scores({(i, j) for i in range(n) for j in range(n) if i != j}, dag)


def lagged_cooccurrence(ds: DataSet, window: float) -> dict[str, float]:
    """``count[i, j]``: alarms of kind j with an alarm of kind i in the ``window`` before,
    same or neighbouring device; edges where the count reaches a threshold, the best
    threshold picked with the answer in hand."""
    n = ds.dag.shape[0]
    count = np.zeros((n, n))
    recent: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
    for a in ds.alarms:
        k = int(a.kind)
        before: set[int] = set()
        for s in ds.near(a.source):
            buf = recent.get(s)
            while buf and a.start - buf[0][0] > window:
                buf.popleft()
            before.update(j for t, j in buf or () if t < a.start and j != k)
        for j in before:
            count[j, k] += 1
        recent[a.source].append((a.start, k))
    best: dict[str, float] = {"f1": -1.0}
    for threshold in np.unique(count[count > 0]):
        edges = {(int(i), int(j)) for i, j in zip(*np.nonzero(count >= threshold), strict=True)}
        score = edge_scores(edges, ds.dag)
        if score["f1"] > best["f1"]:
            best = {**score, "threshold": float(threshold)}
    return best


def learn(ds: DataSet, **params: Any) -> tuple[CausalLearner, float]:
    learner = CausalLearner(neighbours=ds.neighbours, **params)
    t0 = time.perf_counter()
    for a in ds.alarms:
        learner.learn_one(a.kind, a.start, a.source)
    learner.edges()
    return learner, time.perf_counter() - t0


def learned_edges(learner: CausalLearner) -> set[tuple[int, int]]:
    return {(int(c), int(e)) for c, e, _ in learner.edges()}


# -- part 2: grouping -------------------------------------------------------------------


def true_pairs(ds: DataSet, window: float) -> set[tuple[int, int]]:
    """Alarm index pairs (earlier, later) whose kinds share a true causal edge, on the
    same or neighbouring devices, at most ``window`` apart."""
    linked = (ds.dag + ds.dag.T) > 0
    out: set[tuple[int, int]] = set()
    recent: dict[str, deque[int]] = defaultdict(deque)
    for idx, a in enumerate(ds.alarms):
        k = int(a.kind)
        for s in ds.near(a.source):
            buf = recent.get(s)
            while buf and a.start - ds.alarms[buf[0]].start > window:
                buf.popleft()
            out.update((b, idx) for b in buf or () if linked[int(ds.alarms[b].kind), k])
        recent[a.source].append(idx)
    return out


def grouping_metrics(
    ds: DataSet, group: Grouping, pair_window: float, truth: set[tuple[int, int]] | None = None
) -> dict[str, float]:
    """Score ``group`` (alarms -> one incident id per alarm, in order)."""
    truth = true_pairs(ds, pair_window) if truth is None else truth
    t0 = time.perf_counter()
    incidents = list(group(ds))
    seconds = time.perf_counter() - t0
    if len(incidents) != len(ds.alarms):
        raise ValueError(f"grouping gave {len(incidents)} ids for {len(ds.alarms)} alarms")
    sizes: dict[Hashable, int] = defaultdict(int)
    for i in incidents:
        sizes[i] += 1
    same = sum(s * (s - 1) // 2 for s in sizes.values())
    hit = sum(1 for a, b in truth if incidents[a] == incidents[b])
    return {
        "alarms": len(incidents),
        "incidents": len(sizes),
        "largest": max(sizes.values()),
        "noise_reduction": round(1 - len(sizes) / len(incidents), 4),
        "pair_precision": round(hit / same, 4) if same else 0.0,
        "pair_recall": round(hit / len(truth), 4) if truth else 0.0,
        "alarms_per_s": round(len(incidents) / seconds) if seconds else 0,
    }


def window_only(window: float) -> Grouping:
    """Baseline: one incident per tumbling time window, whatever the alarms are."""

    def group(ds: DataSet) -> list[int]:
        return [int(a.start // window) for a in ds.alarms]

    return group


def learned_links(window: float, max_age: float = MAX_INCIDENT_AGE, **params: Any) -> Grouping:
    """Reference: learning as it goes, an alarm joins the incident of the most strongly
    linked alarm (learned edge either way) within ``window`` on the same or a
    neighbouring device, if that incident is younger than ``max_age``."""

    def group(ds: DataSet) -> list[int]:
        learner = CausalLearner(neighbours=ds.neighbours, window=window, **params)
        recent: dict[str, deque[tuple[float, str, int]]] = defaultdict(deque)
        opened: list[float] = []
        out: list[int] = []
        for a in ds.alarms:
            learner.learn_one(a.kind, a.start, a.source)
            best, best_score = -1, 0.0
            for s in ds.near(a.source):
                buf = recent.get(s)
                while buf and a.start - buf[0][0] > window:
                    buf.popleft()
                for _, kind, incident in buf or ():
                    score = max(learner.score_one(kind, a.kind), learner.score_one(a.kind, kind))
                    if score > best_score and a.start - opened[incident] <= max_age:
                        best, best_score = incident, score
            if best < 0:
                best = len(opened)
                opened.append(a.start)
            out.append(best)
            recent[a.source].append((a.start, a.kind, best))
        return out

    return group


def load_grouping(spec: str) -> Grouping:
    """``module:function`` -> the function (a plug-in for another grouping)."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


# -- the run ----------------------------------------------------------------------------


def run_set(ds: DataSet, args: argparse.Namespace) -> dict[str, Any]:
    learner, seconds = learn(ds, window=args.window)
    state = json.dumps(learner.to_state())
    result: dict[str, Any] = {
        "alarms": len(ds.alarms),
        "kinds": int(ds.dag.shape[0]),
        "true_edges": int(ds.dag.sum()),
        "learned": edge_scores(learned_edges(learner), ds.dag),
        "floor_predict_all": predict_all(ds.dag),
        "lagged_cooccurrence_best_threshold": lagged_cooccurrence(ds, args.window),
        "published": PUBLISHED.get(ds.name, {}),
        "goal": GOAL.get(ds.name),
        "cost": {
            "alarms_per_s": round(len(ds.alarms) / seconds),
            "state_counters": learner.state_size(),
            "state_json_bytes": len(state),
        },
        "sweep": [],
    }
    for window in (10.0, 60.0, 300.0):
        for share in (0.0, 0.05, 0.1):
            swept, _ = learn(ds, window=window, direct_share=share)
            score = edge_scores(learned_edges(swept), ds.dag)
            result["sweep"].append({"window": window, "direct_share": share, **score})
    truth = true_pairs(ds, args.pair_window)
    groupings: dict[str, Grouping] = {
        f"time window only ({args.pair_window:g} s)": window_only(args.pair_window),
        "learned links (reference)": learned_links(args.window),
    }
    if args.grouping:
        groupings[args.grouping] = load_grouping(args.grouping)
    result["grouping"] = {
        "pair_window": args.pair_window,
        "true_pairs": len(truth),
        "results": {
            name: grouping_metrics(ds, g, args.pair_window, truth) for name, g in groupings.items()
        },
    }
    return result


def report(name: str, r: dict[str, Any]) -> str:
    learned, floor = r["learned"], r["floor_predict_all"]
    lagged = r["lagged_cooccurrence_best_threshold"]
    lines = [
        f"## {name}: {r['alarms']:,} alarms, {r['kinds']} kinds, {r['true_edges']} true edges",
        "",
        "| method | F1 | precision | recall | edges |",
        "|---|---|---|---|---|",
        f"| **learned, one streaming pass** | **{learned['f1']:.4f}** | {learned['precision']:.3f}"
        f" | {learned['recall']:.3f} | {learned['edges']} |",
        f"| floor: predict every pair | {floor['f1']:.4f} | {floor['precision']:.3f}"
        f" | {floor['recall']:.3f} | {floor['edges']} |",
        f"| lagged co-occurrence, best threshold (tuned on the answer) | {lagged['f1']:.4f}"
        f" | {lagged['precision']:.3f} | {lagged['recall']:.3f} | {lagged['edges']} |",
        *(f"| {m} (published, batch) | {f1:.4f} | | | |" for m, f1 in r["published"].items()),
        "",
        f"Goal {r['goal']}: {'met' if learned['f1'] >= (r['goal'] or 0) else 'NOT met'}."
        f" Cost: {r['cost']['alarms_per_s']:,} alarms/s, state {r['cost']['state_counters']:,}"
        f" counters ({r['cost']['state_json_bytes']:,} bytes as JSON).",
        "",
        "| window s | direct_share | F1 | precision | recall |",
        "|---|---|---|---|---|",
        *(
            f"| {s['window']:g} | {s['direct_share']:g} | {s['f1']:.4f} | {s['precision']:.3f}"
            f" | {s['recall']:.3f} |"
            for s in r["sweep"]
        ),
        "",
        f"Grouping: {r['grouping']['true_pairs']:,} true pairs"
        f" (window {r['grouping']['pair_window']:g} s).",
        "",
        "| grouping | incidents | largest | noise reduction | pair precision | pair recall"
        " | alarms/s |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {g} | {m['incidents']:,} | {m['largest']:,} | {m['noise_reduction']:.3f}"
            f" | {m['pair_precision']:.3f} | {m['pair_recall']:.3f} | {m['alarms_per_s']:,} |"
            for g, m in r["grouping"]["results"].items()
        ),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.correlation", description=__doc__)
    p.add_argument("--data", type=Path, default=DATA, help="folder with the tarballs")
    p.add_argument("--window", type=float, default=60.0, help="learner window, s")
    p.add_argument("--pair-window", type=float, default=60.0, help="grouping truth window, s")
    p.add_argument("--grouping", help="module:function, alarms -> incident ids, to score too")
    p.add_argument("--tag", default="", help="suffix of the results file")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    started = datetime.now(UTC)
    results = {}
    for name in SETS:
        ds = load(args.data / f"{name}.tar.gz")
        results[name] = run_set(ds, args)
        print(report(name, results[name]), end="\n\n", flush=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    record = {
        "scenario": "correlation",
        "started": started.timestamp(),
        "machine": machine(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "code": {"commit": commit},
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%S")
    path = args.out / f"correlation-{stamp}{'-' + args.tag if args.tag else ''}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"recorded {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
