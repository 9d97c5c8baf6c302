"""`alerts`: issue 9's storm. N distinct fingerprints in 100 groups, with silences and 10
inhibition rules, as fast as the producer goes, for each tenant count (one tenant: all
100 groups on one partition, every Alertmanager user's case; many: spread over the
partitions) and each worker count, with Alertmanager on the same stream beside it.

Reported per run: alerts/s notified end to end (first firing arrival of every expected
fingerprint), the ratio to Alertmanager's run of the same tenant count, the groups that
actually notified, and worker RSS bytes per active alert, the active count read from the
worker after the run."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson

from benchmarks.harness import configs, load
from benchmarks.harness.infra import balanced_tenants
from benchmarks.harness.run import (
    Ctx,
    Incomplete,
    Run,
    active_alerts,
    ceiling,
    rate,
    send_raw,
    timelines,
)
from benchmarks.harness.scenarios import alertmanager


def tenant_counts(ctx: Ctx) -> list[int]:
    return [int(x) for x in str(ctx.args.tenants).split(",") if x]


def expected_alerts(n: int, tenants: list[str], silences: int = 0) -> tuple[set[str], int]:
    """Fingerprints the webhook must see (not inhibited nor silenced), and how many of the
    stream's alerts are muted."""
    from app.config.routing import InhibitRuleConfig
    from models.alerting.fingerprint import fingerprint
    from models.suppression.inhibit import Inhibitor

    cfg = configs.alerts_pipeline()
    inhibitor = Inhibitor.from_config(
        [InhibitRuleConfig.model_validate(r) for r in cfg["inhibit_rules"]]
    )
    sources = load.sources_workload(tenants)
    for s in sources:
        inhibitor.add(fingerprint(s), s)
    want = {fingerprint(s) for s in sources}
    muted = 0
    now = time.time()
    silenced = {f"host-{h}" for h in load.silence_hosts(silences, n)}
    for labels in load.alerts_workload(n, tenants):
        if inhibitor.mutes(labels, now) or labels["instance"] in silenced:
            muted += 1
        else:
            want.add(fingerprint(labels))
    return want, muted


async def settled_rss(run: Run, seconds: float) -> float:
    """The workers' RSS once they have been idle ``seconds`` after the last arrival:
    what holding the active alerts costs, without the last flushes' transient buffers
    (taken before the listing of the alerts, which costs the worker memory)."""
    await asyncio.sleep(seconds)
    return run.cpu_rss()[1]


async def post_silences(url: str, hosts: list[int], tenants: list[str]) -> tuple[int, float]:
    """POST the silences (20 at a time), each with the tenant of the alert it hits;
    (accepted, seconds). 0 accepted when the worker has no silence API."""
    now = time.time()
    sem = asyncio.Semaphore(20)
    ok = 0
    t0 = time.monotonic()
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/api/v2/silences") as r:
            if r.status != 200:
                return 0, 0.0

        async def one(host: int) -> None:
            nonlocal ok
            async with (
                sem,
                http.post(
                    url + "/api/v2/silences",
                    data=orjson.dumps(load.silence_body(host, now)),
                    headers={
                        "X-Scope-OrgID": load.alert_tenant(host, tenants),
                        "Content-Type": "application/json",
                    },
                ) as r,
            ):
                if r.status != 200:
                    raise Incomplete(f"silence POST: {r.status} {await r.text()}")
                ok += 1

        await asyncio.gather(*(one(h) for h in hosts))
    return ok, time.monotonic() - t0


def stream_groups(group_keys: list[str]) -> int:
    """Distinct groups of the stream (Alert0..9 x cluster) that notified; the inhibition
    sources' groups (Down*) are not counted."""
    return len({k for k in group_keys if "Down" not in k})


async def one_run(ctx: Ctx, tenant_count: int, workers: int) -> dict[str, Any]:
    a = ctx.args
    tenants = balanced_tenants(tenant_count, ctx.partitions)
    env = {"BENCH_GROUP_WAIT": a.group_wait, "BENCH_GROUP_INTERVAL": a.group_interval}
    run = Run(ctx, "alerts", workers, env)
    try:
        startup = await run.start()
        hosts = load.silence_hosts(a.silences, a.alerts)
        silences, silence_s = await post_silences(run.workers[0].url, hosts, tenants)
        if a.silences and not silences:
            ctx.notes.append(f"alerts: the worker took none of the {a.silences} silences")
        want, muted = expected_alerts(a.alerts, tenants, silences)
        cpu0, rss0 = run.cpu_rss()
        sources = load.sources_workload(tenants)
        by_tenant: dict[str, list[dict]] = {}
        for s in sources:
            by_tenant.setdefault(s["tenant"], []).append(
                {"labels": s, "ends_at": time.time() + 3600}
            )
        send_raw(run.ns, "alerts", by_tenant)
        spec = {
            "topic": run.ns.topic("alerts"),
            "kind": "alerts",
            "n": a.alerts,
            "batch": a.batch,
            "rate": 0,
            "tenants": tenants,
        }
        label = f"alerts {tenant_count} tenant(s) x{workers}"
        driven = await run.drive(
            spec,
            label,
            len(want),
            lambda: len(run.receiver.first) >= len(want),
            ingest_topic="alerts",
        )
        prod, t_in = driven.produced, driven.ingested_at or 0.0
        cpu1, rss_busy = run.cpu_rss()  # at the last arrival: flushes and fetches in flight
        rss1 = await settled_rss(run, a.settle)  # holding the alerts, idle
        active = await active_alerts(run.workers[0].url, tenants) if workers == 1 else None
        got = set(run.receiver.first)
        t0 = prod["t0"]
        t_last = max(run.receiver.first.values()) if run.receiver.first else t0
        notifications = len(run.receiver.arrivals)
        result = {
            "scenario": "alerts",
            "workers": workers,
            "partitions": ctx.partitions,
            "alerts": a.alerts,
            "batch": a.batch,
            "tenants": len(tenants),
            "groups": stream_groups([x.group_key for x in run.receiver.arrivals]),
            "inhibition_rules": load.INHIBIT_RULES,
            "silences": silences,
            "silence_posts_per_s": silences / silence_s if silence_s else 0.0,
            "group_wait": a.group_wait,
            "group_interval": a.group_interval,
            "sent": prod["items"] + len(sources),
            "expected_notified": len(want),
            "inhibited_or_silenced": muted,
            "arrived": len(got & want),
            "missing": len(want - got),
            "unexpected": len(got - want),
            "producer_rate": rate(prod["items"], t0, prod["t1"]),
            "ingest_rate": rate(prod["items"], t0, t_in),
            "alerts_per_s": rate(prod["items"], t0, t_last),
            "notifications": notifications,
            "notifications_per_s": rate(notifications, t0, t_last),
            "alerts_in_notifications": run.receiver.alerts_total,
            "seconds": t_last - t0,
            "startup_s": startup,
            "cpu_us_per_alert": (cpu1 - cpu0) / prod["items"] * 1e6,
            "rss_mib": rss1,
            "rss_mib_at_last_arrival": rss_busy,
            "settle_s": a.settle,
            # read from the worker (one worker: it holds every tenant); else the stream
            "active_alerts": active if active is not None else prod["items"] + len(sources),
            "active_from_worker": active is not None,
            "timeline": timelines(prod["timeline"], run.receiver, t0),
            "rss": run.rss_rows(t0),
        }
        active_now = result["active_alerts"]

        def per_alert(mib: float) -> float:
            return mib * 2**20 / active_now if active_now else 0.0

        result["rss_bytes_per_active_alert"] = per_alert(rss1 - rss0)
        result["rss_bytes_per_active_alert_at_last_arrival"] = per_alert(rss_busy - rss0)
        result["rss_bytes_per_active_alert_total"] = per_alert(rss1)
        if not driven.ok or result["missing"]:
            result["error"] = f"{result['missing']} of {len(want)} expected alerts never arrived"
        result["ceiling"] = ceiling(run.ns, "alerts")
        result["ratio_to_ceiling"] = result["ingest_rate"] / result["ceiling"]["rate"]
        return result
    finally:
        await run.stop()


async def scenario(ctx: Ctx) -> list[dict[str, Any]]:
    """Every tenant count x worker count, then Alertmanager on each tenant count's stream;
    each of our runs gets its ratio to the Alertmanager run of the same stream."""
    runs: list[dict[str, Any]] = []
    for tenant_count in tenant_counts(ctx):
        ours = []
        for workers in ctx.worker_counts:
            ours.append(await one_run(ctx, tenant_count, workers))
        runs += ours
        if ctx.args.no_alertmanager:
            continue
        silences = ours[0]["silences"]  # what the worker took, Alertmanager gets the same
        tenants = balanced_tenants(tenant_count, ctx.partitions)
        want, _ = expected_alerts(ctx.args.alerts, tenants, silences)
        am = await alertmanager.run(ctx, tenants, silences, want)
        if am is None:
            continue
        runs.append(am)
        for r in ours:
            if am["alerts_per_s"]:
                r["ratio_to_alertmanager"] = r["alerts_per_s"] / am["alerts_per_s"]
    return runs
