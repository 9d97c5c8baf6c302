"""`latency`: the highest rate one worker sustains, and p50/p99 from creation to webhook
arrival at that rate.

One worker, group_wait 0 and one group per produced record (so an alert's latency is
the pipeline's, not a group timer's). The rate steps up from --rate-start by
--rate-factor to at most --rate, each step --step-duration seconds of paced load. A
step is sustained when the producer kept the pace, every alert arrived within
--max-drain seconds after the step's last send (the backlog did not grow) and its p99
stayed under --p99-bound-ms. The search stops at the first step that is not; the
sustained rate is the last step before it (0 when the first step already failed)."""

from __future__ import annotations

from typing import Any

from benchmarks.harness.infra import balanced_tenants
from benchmarks.harness.run import Ctx, Run, ceiling, latency_series, percentiles, rate, timelines


def step_rates(start: int, factor: float, top: int) -> list[int]:
    rates, r = [], float(start)
    while round(r) <= top:
        rates.append(round(r))
        r *= factor
    return rates


async def one_step(run: Run, ctx: Ctx, tenants: list[str], step_rate: int, start: int) -> dict:
    """Produce one paced step and wait for it to drain; the step's figures."""
    a = ctx.args
    n = max(1, int(step_rate * a.step_duration))
    first0, lat0 = len(run.receiver.first), len(run.receiver.latency)
    spec = {
        "topic": run.ns.topic("alerts"),
        "kind": "latency",
        "n": n,
        "start": start,
        "batch": a.latency_batch,
        "rate": step_rate,
        "tenants": tenants,
    }
    driven = await run.drive(
        spec,
        f"latency {step_rate:,}/s",
        n,
        lambda: len(run.receiver.first) - first0 >= n,
        progress_of=lambda: len(run.receiver.first) - first0,
        limit=a.step_duration + a.max_drain + 10,  # the producer's spawn takes ~1-2 s
    )
    prod = driven.produced
    arrivals = sorted(at for at, _ in run.receiver.latency[lat0:])
    arrived = len(run.receiver.first) - first0
    lat = percentiles([s for _, s in run.receiver.latency[lat0:]])
    drain = arrivals[-1] - prod["t1"] if arrived >= n and arrivals else None
    achieved = rate(prod["items"], prod["t0"], prod["t1"])
    sustained = (
        arrived >= n
        and achieved >= 0.97 * step_rate
        and drain is not None
        and drain <= a.max_drain
        and lat.get("p99_ms", 1e12) <= a.p99_bound_ms
    )
    return {
        "rate": step_rate,
        "achieved_rate": achieved,
        "sent": prod["items"],
        "arrived": arrived,
        "backlog_at_last_send": prod["items"] - sum(1 for t in arrivals if t <= prod["t1"]),
        "drain_s": drain,
        "latency": lat,
        "sustained": sustained,
        "t0": prod["t0"],
        "timeline": prod["timeline"],
    }


async def search(ctx: Ctx, workers: int) -> dict[str, Any]:
    a = ctx.args
    tenants = balanced_tenants(a.latency_tenants, ctx.partitions)
    env = {"ALERTSTREAM_TICK": str(a.tick), "BENCH_GROUP_INTERVAL": "5m"}
    run = Run(ctx, "latency", workers, env)
    try:
        startup = await run.start()
        steps: list[dict[str, Any]] = []
        start = 0
        for step_rate in step_rates(a.rate_start, a.rate_factor, a.rate):
            step = await one_step(run, ctx, tenants, step_rate, start)
            start += step["sent"]
            steps.append(step)
            if not step["sustained"]:
                break
        t0 = steps[0]["t0"]
        good = [s for s in steps if s["sustained"]]
        best = good[-1] if good else None
        under_100 = [s["rate"] for s in good if s["latency"].get("p99_ms", 1e12) < 100]
        result: dict[str, Any] = {
            "scenario": "latency",
            "workers": workers,
            "partitions": ctx.partitions,
            "batch": a.latency_batch,
            "tenants": len(tenants),
            "tick_s": a.tick,
            "group_wait": "0s",
            "step_duration_s": a.step_duration,
            "p99_bound_ms": a.p99_bound_ms,
            "max_drain_s": a.max_drain,
            "sustained_rate": best["rate"] if best else 0,
            "latency": best["latency"] if best else {},
            "highest_rate_p99_under_100ms": max(under_100, default=0),
            "steps": [{k: v for k, v in s.items() if k not in ("t0", "timeline")} for s in steps],
            "sent": sum(s["sent"] for s in steps),
            "arrived": sum(s["arrived"] for s in steps),
            "startup_s": startup,
            "timeline": {
                **timelines([x for s in steps for x in s["timeline"]], run.receiver, t0),
                "latency": latency_series(run.receiver.latency, t0),
            },
            "rss": run.rss_rows(t0),
        }
        if best:
            ctx.found["sustained_rate"] = best["rate"]
        result["ceiling"] = ceiling(run.ns, "alerts")
        return result
    finally:
        await run.stop()


async def scenario(ctx: Ctx) -> list[dict[str, Any]]:
    return [await search(ctx, workers) for workers in ctx.worker_counts]
