"""The benchmark harness: ``python -m benchmarks.harness SCENARIO... [options]`` (``make
bench ARGS=...``).

Scenarios: metrics, alerts, latency, soak, recovery (or ``all``), one module each in
``benchmarks/harness/scenarios/``. Each run starts an embedded broker, N ``alertstream
worker`` processes and a loopback webhook receiver, drives load from a separate
producer process, checks that everything sent arrived (exit 1 if not), and writes
``benchmarks/results/<scenario>-<timestamp>.json`` and ``.png`` plus a Markdown table
against issue 9's targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

RESULTS = Path(__file__).resolve().parents[1] / "results"
SCENARIO_NAMES = ["metrics", "alerts", "latency", "soak", "recovery"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.harness", description=__doc__.splitlines()[0]
    )
    p.add_argument("scenarios", nargs="*", default=["alerts"], help=f"{SCENARIO_NAMES} or all")
    p.add_argument("--workers", default="1", help="worker counts to run, e.g. 1,2")
    p.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    p.add_argument("--batch", type=int, default=1000, help="alerts/samples per Kafka record")
    # alerts
    p.add_argument("--alerts", type=int, default=200_000, help="distinct fingerprints")
    p.add_argument(
        "--tenants", default="1,10", help="alerts: tenant counts to run (100 groups each)"
    )
    p.add_argument("--silences", type=int, default=1000)
    p.add_argument("--group-wait", default="1s")
    p.add_argument("--group-interval", default="1s")
    p.add_argument("--no-alertmanager", action="store_true")
    p.add_argument(
        "--settle", type=float, default=15.0, help="alerts: idle s before the RSS reading"
    )
    # metrics
    p.add_argument("--samples", type=int, default=3_000_000)
    p.add_argument("--series", type=int, default=100_000)
    p.add_argument("--metric-tenants", type=int, default=100)
    # latency: the rate steps up until a step is not sustained
    p.add_argument("--rate-start", type=int, default=1000, help="latency: first step, alerts/s")
    p.add_argument("--rate-factor", type=float, default=1.5, help="latency: step multiplier")
    p.add_argument("--rate", type=int, default=50_000, help="latency: highest step, alerts/s")
    p.add_argument("--step-duration", type=float, default=10.0, help="latency: seconds a step")
    p.add_argument("--p99-bound-ms", type=float, default=1000.0, help="latency: p99 bound")
    p.add_argument("--max-drain", type=float, default=1.0, help="latency: s to drain after a step")
    p.add_argument("--latency-batch", type=int, default=100, help="alerts per record/group")
    p.add_argument("--latency-tenants", type=int, default=20)
    p.add_argument("--tick", type=float, default=0.02, help="worker timer tick (s)")
    # soak
    p.add_argument("--duration", type=float, default=600.0, help="soak: seconds")
    p.add_argument(
        "--sustained-rate", type=int, default=0, help="soak: runs at 80%% of it (else latency's)"
    )
    p.add_argument("--warmup", type=float, default=60.0, help="soak: seconds before RSS counts")
    # recovery
    p.add_argument("--recovery-alerts", "--active", type=int, default=1_000_000)
    # harness
    p.add_argument("--sample-every", type=float, default=2.0, help="RSS sampling period (s)")
    p.add_argument("--profile", type=float, default=0.0, help="py-spy the workers for N s")
    p.add_argument("--compare", type=Path, help="an earlier result JSON to compare with")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--keep", action="store_true", help="keep worker data dirs and logs")
    p.add_argument("--tag", default="", help="suffix for the result file name")
    return p


async def _run(scenario: str, args: argparse.Namespace, found: dict[str, float]) -> dict[str, Any]:
    from benchmarks.harness.infra import Broker, machine
    from benchmarks.harness.run import Ctx
    from benchmarks.harness.scenarios import SCENARIOS

    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-{scenario}-"))
    broker = Broker(run_dir)
    ctx = Ctx(broker, run_dir, args, partitions=args.partitions, found=found)
    started = time.time()
    try:
        runs = await SCENARIOS[scenario](ctx)
    finally:
        broker.stop()
    return {
        "scenario": scenario,
        "started": started,
        "machine": machine(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "notes": ctx.notes,
        "code": _code_state(),
        "run_dir": str(run_dir),
        "runs": runs,
    }


def _code_state() -> dict[str, Any]:
    """The commit measured, and which tracked files were modified in the working tree."""
    import subprocess

    root = Path(__file__).resolve().parents[2]

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=root, capture_output=True, text=True).stdout

    dirty = [line[3:] for line in git("status", "--porcelain").splitlines() if line[:2] != "??"]
    return {"commit": git("rev-parse", "HEAD").strip(), "modified": dirty}


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from benchmarks.harness import report

    console = Console()
    wanted = SCENARIO_NAMES if args.scenarios == ["all"] else args.scenarios
    bad = [s for s in wanted if s not in SCENARIO_NAMES]
    if bad:
        console.print(f"unknown scenario {bad}; choose from {SCENARIO_NAMES} or all")
        return 2
    failed = False
    found: dict[str, float] = {}  # what one scenario finds for a later one (soak's rate)
    args.out.mkdir(parents=True, exist_ok=True)
    for scenario in wanted:
        doc = asyncio.run(_run(scenario, args, found))
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(doc["started"]))
        base = args.out / f"{scenario}-{stamp}{('-' + args.tag) if args.tag else ''}"
        base.with_suffix(".json").write_text(json.dumps(doc, indent=1))
        report.plot(doc["runs"], base.with_suffix(".png"))
        m = doc["machine"]
        console.print(f"\n{scenario} on {m['nproc']} cores, {m['cpu']}, {m['memory_gib']} GiB")
        print(report.markdown(doc["runs"]))
        for note in doc["notes"]:
            console.print(f"note: {note}", markup=False)
        console.print(f"results: {base.with_suffix('.json')}, plot {base.with_suffix('.png')}")
        if args.compare:
            print(report.compare(args.compare, doc["runs"]))
        for r in doc["runs"]:
            if r.get("error"):
                failed = True
                console.print(f"[bold red]INCOMPLETE {scenario}: {r['error']}")
    return 1 if failed else 0
