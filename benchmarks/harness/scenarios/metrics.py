"""`metrics`: samples through 100 threshold rules (avg over 10 s windows), as fast as the
producer goes; the rate is when the workers' committed offsets reach the end of the
topic, set beside a bare consumer reading the same topic (the ceiling). Every breach
alert the stream implies must arrive."""

from __future__ import annotations

from typing import Any

from benchmarks.harness import load
from benchmarks.harness.infra import balanced_tenants
from benchmarks.harness.run import Ctx, Run, ceiling, rate, timelines


async def one_run(ctx: Ctx, workers: int) -> dict[str, Any]:
    a = ctx.args
    tenants = balanced_tenants(a.metric_tenants, ctx.partitions)
    run = Run(ctx, "metrics", workers, {})
    expected = load.expected_metric_alerts(min(a.series, a.samples), len(tenants))
    try:
        startup = await run.start()
        cpu0, _ = run.cpu_rss()
        spec = {
            "topic": run.ns.topic("metrics"),
            "kind": "metrics",
            "n": a.samples,
            "batch": a.batch,
            "rate": 0,
            "tenants": tenants,
            "series": a.series,
        }

        def ingested() -> bool:
            return run.ingest is not None and run.ingest.done()

        driven = await run.drive(
            spec,
            f"metrics x{workers}",
            a.samples,
            lambda: ingested() and len(run.receiver.first) >= expected,
            ingest_topic="metrics",
            # arrivals count as progress too: breach alerts can trickle out long after
            # ingest ends, which is not a stall
            progress_of=lambda: (
                a.samples + len(run.receiver.first) if ingested() else run.sent.value
            ),
        )
        prod, t_in = driven.produced, driven.ingested_at or 0.0
        cpu1, rss1 = run.cpu_rss()
        t0 = prod["t0"]
        arrived = len(run.receiver.first)
        result: dict[str, Any] = {
            "scenario": "metrics",
            "workers": workers,
            "partitions": ctx.partitions,
            "samples": a.samples,
            "series": a.series,
            "rules": 100,
            "window": "10s",
            "tenants": len(tenants),
            "batch": a.batch,
            "sent": prod["items"],
            "producer_rate": rate(prod["items"], t0, prod["t1"]),
            "samples_per_s": rate(prod["items"], t0, t_in),
            "cpu_us_per_sample": (cpu1 - cpu0) / prod["items"] * 1e6,
            "expected_alerts": expected,
            "arrived": arrived,
            "missing": max(0, expected - arrived),
            "startup_s": startup,
            "rss_mib": rss1,
            "timeline": timelines(prod["timeline"], run.receiver, t0),
            "rss": run.rss_rows(t0),
        }
        if not driven.ok or arrived < expected:
            result["error"] = f"{expected - arrived} of {expected} breach alerts never arrived"
        result["ceiling"] = ceiling(run.ns, "metrics")
        result["ratio_to_ceiling"] = result["samples_per_s"] / result["ceiling"]["rate"]
        return result
    finally:
        await run.stop()


async def scenario(ctx: Ctx) -> list[dict[str, Any]]:
    return [await one_run(ctx, workers) for workers in ctx.worker_counts]
