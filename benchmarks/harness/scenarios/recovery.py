"""`recovery`: one worker holding --recovery-alerts active alerts (1,000,000 by default)
is killed with SIGKILL and restarted while 10 new alerts wait in the topic.

Reported: seconds until the worker answers healthy and until the new alerts are
notified (processing resumed), active alerts lost (counted from the worker's API
against what was sent) and notifications sent again for alerts notified before the
kill (re-notified)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from benchmarks.harness.infra import WorkerProc, balanced_tenants
from benchmarks.harness.run import Ctx, Incomplete, Run, active_alerts, timelines

PROBES = 10
# alert names, so groups (alertname x tenant, the tenant following the name): 1,000
# groups of 1,000 alerts at 1M. A group's notification is cut at 4 MiB
# (models/notify/notification.py), so 10 groups of 100,000 could never show them all
# (~23,000 each: the load phase then waited for alerts no notification could carry).
GROUPS = 1000
GROUP_INTERVAL_S = 2.0


async def seconds_to_healthy(worker: WorkerProc, since: float, timeout: float) -> float | None:
    async with aiohttp.ClientSession() as http:
        while time.monotonic() - since < timeout:
            if (await worker.health(http))[0] == 200:
                return time.monotonic() - since
            await asyncio.sleep(0.1)
    return None


def probes_arrived(run: Run) -> int:
    return sum(v for k, v in run.receiver.names.items() if k.startswith("Probe"))


async def recovery(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    tenants = balanced_tenants(10, ctx.partitions)
    env = {"BENCH_GROUP_WAIT": "1s", "BENCH_GROUP_INTERVAL": f"{GROUP_INTERVAL_S:.0f}s"}
    run = Run(ctx, "alerts", 1, env)
    n = a.recovery_alerts
    try:
        startup = await run.start()
        _, rss0 = run.cpu_rss()
        spec = {
            "topic": run.ns.topic("alerts"),
            "kind": "recovery",
            "alertname": "Rec",
            "names": GROUPS,
            "n": n,
            "batch": 1000,
            "rate": 0,
            "tenants": tenants,
        }
        driven = await run.drive(
            spec, "recovery load", n, lambda: len(run.receiver.first) >= n, stall=180
        )
        prod = driven.produced
        if not driven.ok:
            raise Incomplete(f"only {len(run.receiver.first)} of {n} alerts were notified")
        load_s = max(run.receiver.first.values()) - prod["t0"]
        await asyncio.sleep(3.0)  # the last flush's log entries and offsets committed
        _, rss1 = run.cpu_rss()
        before = len(run.receiver.arrivals)
        worker = run.workers[0]
        t_kill = time.monotonic()
        worker.kill()
        worker.start()
        healthy_task = asyncio.create_task(seconds_to_healthy(worker, t_kill, 600))
        # new work sent while the worker is down: it must come through after the restart
        probe = {
            "topic": run.ns.topic("alerts"),
            "kind": "probe",
            "alertname": "Probe",
            "n": PROBES,
            "batch": PROBES,
            "rate": 0,
            "tenants": tenants[:1],
        }
        resumed_ok = (
            await run.drive(
                probe,
                "recovery restart",
                PROBES,
                lambda: probes_arrived(run) >= PROBES,
                progress_of=lambda: probes_arrived(run),
                stall=600,
                limit=600,
            )
        ).ok
        resumed = time.monotonic() - t_kill
        healthy = await healthy_task
        await asyncio.sleep(3 * GROUP_INTERVAL_S)  # any re-notification shows by then
        renotified = [x for x in run.receiver.arrivals[before:] if "Probe" not in x.group_key]
        active = await active_alerts(worker.url, tenants)
        t0 = prod["t0"]
        result = {
            "scenario": "recovery",
            "workers": 1,
            "partitions": ctx.partitions,
            "active_alerts": n,
            "load_seconds": load_s,
            "startup_s": startup,
            "rss_mib_loaded": rss1,
            "rss_bytes_per_active_alert": (rss1 - rss0) * 2**20 / n,
            "seconds_to_healthy": healthy,
            "seconds_to_resume": resumed if resumed_ok else None,
            "active_after_restart": active,
            "expected_active": n + PROBES,
            "lost": max(0, n + PROBES - active),
            "renotified": len(renotified),
            "renotified_groups": sorted({x.group_key for x in renotified})[:5],
            "timeline": timelines(prod["timeline"], run.receiver, t0),
            "rss": run.rss_rows(t0),
        }
        problems = []
        if healthy is None or not resumed_ok:
            problems.append("worker did not resume within 600 s")
        if result["lost"]:
            problems.append(f"{result['lost']} active alerts lost")
        if renotified:
            problems.append(f"{len(renotified)} notifications sent again after the restart")
        if problems:
            result["error"] = "; ".join(problems)
        return result
    finally:
        await run.stop()


async def scenario(ctx: Ctx) -> list[dict[str, Any]]:
    return [await recovery(ctx)]
