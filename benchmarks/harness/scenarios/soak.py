"""`soak`: 80% of a sustained rate for --duration seconds (600 by default), one group
per record and alerts that expire after 20 s, so the active set is bounded and the
worker's memory should level off.

The sustained rate is --sustained-rate, else what `latency` found earlier in the same
invocation (`... latency soak`). Reported: RSS after --warmup seconds, at the end and
its growth in %, the latency, and whether every alert sent arrived ("nothing lost")."""

from __future__ import annotations

from typing import Any

from benchmarks.harness.infra import balanced_tenants
from benchmarks.harness.run import Ctx, Run, latency_series, percentiles, rate, timelines

SHARE = 0.8  # of the sustained rate
EXPIRES_S = 20.0


def sustained_rate(ctx: Ctx) -> int:
    given = ctx.args.sustained_rate or ctx.found.get("sustained_rate")
    if not given:
        raise SystemExit("soak: give --sustained-rate, or run `latency soak` together")
    return int(given)


def rss_after(rows: list[list[float]], t: float) -> float | None:
    """Total worker RSS (MiB) of the first sample at or after t."""
    return next((sum(r[1:]) for r in rows if r[0] >= t), None)


async def soak(ctx: Ctx, workers: int) -> dict[str, Any]:
    a = ctx.args
    tenants = balanced_tenants(a.latency_tenants, ctx.partitions)
    base = sustained_rate(ctx)
    soak_rate = max(1, int(base * SHARE))
    n = int(soak_rate * a.duration)
    warmup = min(a.warmup, a.duration / 3)
    env = {"ALERTSTREAM_TICK": str(a.tick), "BENCH_GROUP_INTERVAL": "10s"}
    run = Run(ctx, "latency", workers, env)
    try:
        startup = await run.start()
        spec = {
            "topic": run.ns.topic("alerts"),
            "kind": "latency",
            "n": n,
            "batch": a.latency_batch,
            "rate": soak_rate,
            "tenants": tenants,
            "ends_in": EXPIRES_S,
        }
        driven = await run.drive(
            spec, f"soak {soak_rate:,}/s x{workers}", n, lambda: len(run.receiver.first) >= n
        )
        prod = driven.produced
        _, rss_end = run.cpu_rss()
        t0 = prod["t0"]
        rows = run.rss_rows(t0)
        rss_warm = rss_after(rows, warmup)
        missing = n - len(run.receiver.first)
        result: dict[str, Any] = {
            "scenario": "soak",
            "workers": workers,
            "partitions": ctx.partitions,
            "sustained_rate": base,
            "rate": soak_rate,
            "duration_s": a.duration,
            "warmup_s": warmup,
            "alerts": n,
            "batch": a.latency_batch,
            "tenants": len(tenants),
            "tick_s": a.tick,
            "sent": prod["items"],
            "arrived": len(run.receiver.first),
            "missing": missing,
            "lost": max(0, missing),
            "achieved_rate": rate(prod["items"], t0, prod["t1"]),
            "latency": percentiles([s for _, s in run.receiver.latency]),
            "notifications": len(run.receiver.arrivals),
            "startup_s": startup,
            "rss_mib_after_warmup": rss_warm,
            "rss_mib_end": rss_end,
            "rss_growth_pct": (rss_end - rss_warm) / rss_warm * 100 if rss_warm else None,
            "timeline": {
                **timelines(prod["timeline"], run.receiver, t0),
                "latency": latency_series(run.receiver.latency, t0),
            },
            "rss": rows,
        }
        if not driven.ok or missing:
            result["error"] = f"{missing} of {n} alerts never arrived"
        return result
    finally:
        await run.stop()


async def scenario(ctx: Ctx) -> list[dict[str, Any]]:
    return [await soak(ctx, workers) for workers in ctx.worker_counts]
