"""The scenarios: each starts what it measures, drives load, checks completeness and
returns one result dict per run (per worker count)."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.broker import stop_process
from benchmarks.harness import configs, load
from benchmarks.harness.infra import (
    Broker,
    LagProbe,
    Namespace,
    Receiver,
    WorkerProc,
    balanced_tenants,
    proc_stat,
    wait_healthy,
)

SPAWN = mp.get_context("spawn")


class Incomplete(RuntimeError):
    """Something sent never arrived: the run is not a result."""


@dataclass
class Ctx:
    broker: Broker
    run_dir: Path
    args: Any
    partitions: int = 4
    notes: list[str] = field(default_factory=list)
    silences: int | None = None  # what the worker accepted (Alertmanager gets the same)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    v = sorted(values)

    def q(p: float) -> float:
        return v[min(len(v) - 1, int(p * len(v)))]

    return {
        "p50_ms": q(0.50) * 1e3,
        "p95_ms": q(0.95) * 1e3,
        "p99_ms": q(0.99) * 1e3,
        "max_ms": v[-1] * 1e3,
        "count": len(v),
    }


def per_second(times: list[float], t0: float) -> list[tuple[int, int]]:
    out: dict[int, int] = {}
    for t in times:
        s = int(t - t0)
        out[s] = out.get(s, 0) + 1
    return sorted(out.items())


def latency_series(samples: list[tuple[float, float]], t0: float) -> list[list[float]]:
    """[second, p50 ms, p99 ms] per second of arrival."""
    by: dict[int, list[float]] = {}
    for at, lat in samples:
        by.setdefault(int(at - t0), []).append(lat)
    out = []
    for s, lats in sorted(by.items()):
        p = percentiles(lats)
        out.append([s, round(p["p50_ms"], 2), round(p["p99_ms"], 2)])
    return out


class Run:
    """Workers + receiver + producer for one measured run, and the watching in between."""

    def __init__(self, ctx: Ctx, pipeline: str, workers: int, env: dict[str, str]):
        self.ctx = ctx
        self.ns = Namespace(ctx.broker.url, ctx.partitions)
        self.dir = ctx.run_dir / f"{pipeline}-{self.ns.name}"
        self.dir.mkdir(parents=True)
        self.receiver = Receiver()
        self.pipeline = configs.path(pipeline)
        self.env = {"BENCH_WEBHOOK_URL": self.receiver.url, **env}
        self.workers = [
            WorkerProc(self.ns, self.pipeline, self.dir, i, self.env) for i in range(workers)
        ]
        self.rss: list[list[float]] = []  # [t, rss MiB of each worker...]
        self.profilers: list[subprocess.Popen[bytes]] = []

    async def start(self) -> float:
        await self.receiver.start()
        self.ns.declare()
        t0 = time.monotonic()
        for w in self.workers:
            w.start()
        await wait_healthy(self.workers)
        return time.monotonic() - t0

    def cpu_rss(self) -> tuple[float, float]:
        stats = [proc_stat(w.pid) for w in self.workers if w.alive()]
        return sum(c for c, _ in stats), sum(r for _, r in stats)

    def profile(self, seconds: float) -> None:
        """py-spy on every worker for the measured stretch (--profile)."""
        spy = shutil.which("py-spy") or str(Path(os.sys.executable).parent / "py-spy")
        for w in self.workers:
            out = self.dir / f"profile-worker{w.index}.txt"
            self.profilers.append(
                subprocess.Popen(
                    [
                        spy,
                        "record",
                        "--pid",
                        str(w.pid),
                        "--duration",
                        str(int(seconds)),
                        "--rate",
                        "200",
                        "--format",
                        "raw",
                        "--nonblocking",
                        "-o",
                        str(out),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def producer(self, spec: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
        sent, started, out = SPAWN.Value("q", 0), SPAWN.Event(), SPAWN.Queue()
        spec = {"broker": self.ns.broker, **spec}
        proc = SPAWN.Process(target=load.produce, args=(spec, sent, started, out), daemon=True)
        proc.start()
        return proc, sent, started, out

    async def watch(
        self,
        label: str,
        total: int,
        sent: Any,
        done: Any,
        *,
        stall: float = 90.0,
        limit: float = 3600.0,
        progress_of: Any = None,
    ) -> bool:
        """Progress bar until done() is true; False on a stall (no progress for `stall` s)."""
        progress_of = progress_of or (lambda: len(self.receiver.first))
        last, last_change = -1, time.monotonic()
        next_sample = 0.0
        t_start = time.monotonic()
        with Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            transient=False,
        ) as bar:
            task = bar.add_task(label, total=total, info="")
            while True:
                for w in self.workers:
                    w.check()
                now = time.monotonic()
                if now >= next_sample:
                    _, rss = self.cpu_rss()
                    self.rss.append([time.time(), *[proc_stat(w.pid)[1] for w in self.workers]])
                    next_sample = now + self.ctx.args.sample_every
                    info = f"sent {sent.value:,} rss {rss:,.0f} MiB"
                    bar.update(task, info=info)
                got = progress_of()
                bar.update(task, completed=min(got, total))
                if done():
                    return True
                if got != last:
                    last, last_change = got, now
                elif now - last_change > stall or now - t_start > limit:
                    return False
                await asyncio.sleep(0.25)

    async def stop(self) -> None:
        for p in self.profilers:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        for w in self.workers:
            w.stop()
        await self.receiver.stop()
        if not self.ctx.args.keep:
            for w in self.workers:
                shutil.rmtree(w.data_dir, ignore_errors=True)


def ceiling(ns: Namespace, topic: str) -> dict[str, Any]:
    out = SPAWN.Queue()
    proc = SPAWN.Process(
        target=load.bare_consume, args=(ns.broker, ns.topic(topic), ns.partitions, out)
    )
    proc.start()
    result = out.get(timeout=600)
    proc.join(30)
    return result


def send_raw(ns: Namespace, topic: str, items_by_tenant: dict[str, list[dict]]) -> None:
    from confluent_kafka import Producer

    from app.client import bootstrap_servers

    p = Producer(
        {"bootstrap.servers": bootstrap_servers(ns.broker), "partitioner": "murmur2_random"}
    )
    for tenant, items in items_by_tenant.items():
        p.produce(ns.topic(topic), orjson.dumps(items), tenant.encode())
    if p.flush(30):
        raise RuntimeError("could not produce")


async def ingested_at(probe: LagProbe, timeout: float = 600.0) -> float:
    """The time the app's committed offsets reached the end of the topic."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, end = await loop.run_in_executor(None, probe.read)
        if end and done >= end:
            return time.time()
        await asyncio.sleep(0.2)
    raise Incomplete("the workers' committed offsets never reached the end of the topic")


def rate(n: int, t0: float, t1: float) -> float:
    return n / (t1 - t0) if t1 > t0 else 0.0


# -- alerts ------------------------------------------------------------------------


def expected_alerts(n: int, tenants: list[str], silences: int = 0) -> tuple[set[str], int]:
    """Fingerprints the webhook must see (not inhibited) and how many are inhibited."""
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
    silenced = {f"host-{h}" for h in silence_hosts(silences, n)}
    for labels in load.alerts_workload(n, tenants):
        if inhibitor.mutes(labels, now) or labels["instance"] in silenced:
            muted += 1
        else:
            want.add(fingerprint(labels))
    return want, muted


def silence_hosts(n_silences: int, n_alerts: int) -> list[int]:
    """The suppression benchmark's silences: instance host-(20 i) (or outside the stream)."""
    return [i * 20 if i * 20 < n_alerts else n_alerts + i for i in range(n_silences)]


def silence_body(host: int, now: float) -> dict[str, Any]:
    from benchmarks.suppression import _rfc3339

    return {
        "matchers": [
            {"name": "instance", "value": f"host-{host}", "isRegex": False, "isEqual": True},
            {"name": "alertname", "value": "Alert.*", "isRegex": True, "isEqual": True},
        ],
        "startsAt": _rfc3339(now - 60),
        "endsAt": _rfc3339(now + 86400),
        "createdBy": "bench",
        "comment": "bench",
    }


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
            tenant = tenants[(host // 10) % len(tenants)]
            async with (
                sem,
                http.post(
                    url + "/api/v2/silences",
                    data=orjson.dumps(silence_body(host, now)),
                    headers={"X-Scope-OrgID": tenant, "Content-Type": "application/json"},
                ) as r,
            ):
                if r.status == 200:
                    ok += 1
                else:
                    raise Incomplete(f"silence POST: {r.status} {await r.text()}")

        await asyncio.gather(*(one(h) for h in hosts))
    return ok, time.monotonic() - t0


async def scenario_alerts(ctx: Ctx, workers: int) -> dict[str, Any]:
    a = ctx.args
    tenants = balanced_tenants(a.tenants, ctx.partitions)
    env = {"BENCH_GROUP_WAIT": a.group_wait, "BENCH_GROUP_INTERVAL": a.group_interval}
    run = Run(ctx, "alerts", workers, env)
    try:
        startup = await run.start()
        hosts = silence_hosts(a.silences, a.alerts)
        silences, silence_s = await post_silences(run.workers[0].url, hosts, tenants)
        if a.silences and not silences:
            ctx.notes.append(
                f"alerts: run WITHOUT the {a.silences} silences: the worker has no "
                "GET/POST /api/v2/silences yet (Alertmanager ran without them too)"
            )
        ctx.silences = silences
        want, muted = expected_alerts(a.alerts, tenants, silences)
        _, rss0 = run.cpu_rss()
        cpu0, _ = run.cpu_rss()
        by_tenant: dict[str, list[dict]] = {}
        for s in load.sources_workload(tenants):
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
        proc, sent, started, out = run.producer(spec)
        probe = LagProbe(run.ns, "alerts")
        if a.profile:
            run.profile(a.profile)
        started.set()
        ingest_task = asyncio.create_task(ingested_at(probe))
        ok = await run.watch(
            f"alerts x{workers}", len(want), sent, lambda: len(run.receiver.first) >= len(want)
        )
        prod = out.get(timeout=60)
        proc.join(10)
        t_in = await ingest_task
        probe.close()
        cpu1, rss1 = run.cpu_rss()
        got = set(run.receiver.first)
        missing = want - got
        extra = got - want
        t0 = prod["t0"]
        t_last = max(run.receiver.first.values()) if run.receiver.first else t0
        result = {
            "scenario": "alerts",
            "workers": workers,
            "partitions": ctx.partitions,
            "alerts": a.alerts,
            "batch": a.batch,
            "tenants": len(tenants),
            "groups": 10 * len(tenants),
            "inhibition_rules": load.INHIBIT_RULES,
            "silences": silences,
            "silence_posts_per_s": silences / silence_s if silence_s else 0.0,
            "group_wait": a.group_wait,
            "group_interval": a.group_interval,
            "sent": prod["items"] + len(load.sources_workload(tenants)),
            "expected_notified": len(want),
            "inhibited": muted,
            "arrived": len(got & want),
            "missing": len(missing),
            "unexpected": len(extra),
            "producer_rate": rate(prod["items"], t0, prod["t1"]),
            "ingest_rate": rate(prod["items"], t0, t_in),
            "alerts_per_s": rate(prod["items"], t0, t_last),
            "notifications": len(run.receiver.requests),
            "notifications_per_s": rate(len(run.receiver.requests), t0, t_last),
            "alerts_in_notifications": run.receiver.alerts_total,
            "seconds": t_last - t0,
            "startup_s": startup,
            "cpu_us_per_alert": (cpu1 - cpu0) / prod["items"] * 1e6,
            "rss_mib": rss1,
            "rss_bytes_per_active_alert": (rss1 - rss0) * 2**20 / prod["items"],
            "timeline": {
                "sent": [[s - int(t0), n] for s, n in prod["timeline"]],
                "notified": per_second(list(run.receiver.first.values()), t0),
            },
            "rss": [[round(r[0] - t0, 1), *r[1:]] for r in run.rss],
        }
        if not ok or missing:
            result["error"] = f"{len(missing)} of {len(want)} expected alerts never arrived"
        result["ceiling"] = ceiling(run.ns, "alerts")
        result["ratio_to_ceiling"] = result["ingest_rate"] / result["ceiling"]["rate"]
        return result
    finally:
        await run.stop()


async def scenario_alertmanager(ctx: Ctx) -> dict[str, Any] | None:
    """The alerts stream posted to a real Alertmanager with the same routes and webhook."""
    from benchmarks.suppression import _free_port, _request, _rss_mb

    a = ctx.args
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        ctx.notes.append("Alertmanager not installed: no comparison")
        return None
    tenants = balanced_tenants(a.tenants, ctx.partitions)
    n_sil = a.silences if ctx.silences is None else ctx.silences
    want, _ = expected_alerts(a.alerts, tenants, n_sil)
    receiver = Receiver("alertmanager")
    await receiver.start()
    tmp = tempfile.mkdtemp(prefix="am-bench-")
    cfg = configs.alertmanager_config(
        "alerts",
        {
            "BENCH_WEBHOOK_URL": receiver.url,
            "BENCH_GROUP_WAIT": a.group_wait,
            "BENCH_GROUP_INTERVAL": a.group_interval,
        },
    )
    cfg_path = os.path.join(tmp, "alertmanager.yml")
    with open(cfg_path, "w") as f:
        yaml.safe_dump(cfg, f)
    port = _free_port()
    am = subprocess.Popen(
        [
            binary,
            f"--config.file={cfg_path}",
            f"--storage.path={tmp}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=open(ctx.run_dir / "alertmanager.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    try:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(200):
            try:
                _request(conn, "GET", "/-/ready")
                break
            except (OSError, RuntimeError, http.client.HTTPException):
                conn.close()
                await asyncio.sleep(0.1)
        sent, started, out = SPAWN.Value("q", 0), SPAWN.Event(), SPAWN.Queue()
        spec = {
            "n": a.alerts,
            "batch": 1000,
            "tenants": tenants,
            "silences": silence_hosts(n_sil, a.alerts),
        }
        proc = SPAWN.Process(target=load.post_alertmanager, args=(port, spec, sent, started, out))
        proc.start()
        started.set()
        t_start = time.monotonic()
        last, last_change = 0, t_start
        with Progress(
            TextColumn("[bold]alertmanager"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        ) as bar:
            task = bar.add_task("am", total=len(want))
            ok = False
            while True:
                got = len(receiver.first)
                bar.update(task, completed=got)
                if got >= len(want):
                    ok = True
                    break
                if got != last:
                    last, last_change = got, time.monotonic()
                elif time.monotonic() - last_change > 120:
                    break
                await asyncio.sleep(0.25)
        posted = out.get(timeout=600)
        proc.join(10)
        t0 = posted["t0"]
        t_last = max(receiver.first.values()) if receiver.first else t0
        missing = len(want - set(receiver.first))
        result = {
            "scenario": "alerts",
            "system": "alertmanager",
            "version": subprocess.run(
                [binary, "--version"], capture_output=True, text=True
            ).stderr.split("\n")[0],
            "alerts": a.alerts,
            "post_batch": 1000,
            "silences": n_sil,
            "expected_notified": len(want),
            "arrived": len(want & set(receiver.first)),
            "missing": missing,
            "post_rate": rate(posted["items"], t0, posted["t1"]),
            "alerts_per_s": rate(posted["items"], t0, t_last),
            "notifications": len(receiver.requests),
            "notifications_per_s": rate(len(receiver.requests), t0, t_last),
            "alerts_in_notifications": receiver.alerts_total,
            "seconds": t_last - t0,
            "rss_mib": _rss_mb(am.pid),
            "timeline": {
                "sent": [[s - int(t0), n] for s, n in posted["timeline"]],
                "notified": per_second(list(receiver.first.values()), t0),
            },
        }
        if not ok or missing:
            result["error"] = f"Alertmanager: {missing} of {len(want)} expected alerts missing"
        return result
    finally:
        stop_process(am, 10)
        await receiver.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# -- latency and soak --------------------------------------------------------------


async def scenario_latency(ctx: Ctx, workers: int, soak: bool = False) -> dict[str, Any]:
    a = ctx.args
    tenants = balanced_tenants(a.latency_tenants, ctx.partitions)
    duration = a.duration if soak else a.latency_duration
    rate_ = a.soak_rate if soak else a.rate
    n = int(rate_ * duration)
    env = {
        "ALERTSTREAM_TICK": str(a.tick),
        "BENCH_GROUP_INTERVAL": "10s" if soak else "5m",
    }
    run = Run(ctx, "latency", workers, env)
    try:
        startup = await run.start()
        cpu0, rss0 = run.cpu_rss()
        spec = {
            "topic": run.ns.topic("alerts"),
            "kind": "latency",
            "n": n,
            "batch": a.latency_batch,
            "rate": rate_,
            "tenants": tenants,
            # soak: alerts expire after 20 s, so the active set is bounded
            "ends_in": 20.0 if soak else 3600.0,
        }
        proc, sent, started, out = run.producer(spec)
        if a.profile:
            run.profile(a.profile)
        started.set()
        name = "soak" if soak else "latency"
        ok = await run.watch(f"{name} x{workers}", n, sent, lambda: len(run.receiver.first) >= n)
        prod = out.get(timeout=60)
        proc.join(10)
        cpu1, rss1 = run.cpu_rss()
        t0 = prod["t0"]
        lats = [lat for _, lat in run.receiver.latency]
        missing = n - len(run.receiver.first)
        result = {
            "scenario": name,
            "workers": workers,
            "partitions": ctx.partitions,
            "rate": rate_,
            "duration_s": duration,
            "alerts": n,
            "batch": a.latency_batch,
            "tenants": len(tenants),
            "tick_s": a.tick,
            "group_wait": "0s",
            "sent": prod["items"],
            "arrived": len(run.receiver.first),
            "missing": missing,
            "achieved_rate": rate(prod["items"], t0, prod["t1"]),
            "latency": percentiles(lats),
            "notifications": len(run.receiver.requests),
            "startup_s": startup,
            "cpu_share": (cpu1 - cpu0) / max(prod["t1"] - t0, 1e-9),
            "rss_mib_start": rss0,
            "rss_mib_end": rss1,
            "timeline": {
                "sent": [[s - int(t0), c] for s, c in prod["timeline"]],
                "notified": per_second(list(run.receiver.first.values()), t0),
                "latency": latency_series(run.receiver.latency, t0),
            },
            "rss": [[round(r[0] - t0, 1), *r[1:]] for r in run.rss],
        }
        if soak and run.rss:
            half = [sum(r[1:]) for r in run.rss if r[0] - t0 > duration / 2]
            if half:
                result["rss_mib_second_half_min_max"] = [min(half), max(half)]
        if not ok or missing:
            result["error"] = f"{missing} of {n} alerts never arrived"
        result["ceiling"] = ceiling(run.ns, "alerts")
        return result
    finally:
        await run.stop()


# -- metrics -----------------------------------------------------------------------


async def scenario_metrics(ctx: Ctx, workers: int) -> dict[str, Any]:
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
        proc, sent, started, out = run.producer(spec)
        probe = LagProbe(run.ns, "metrics")
        if a.profile:
            run.profile(a.profile)
        started.set()
        ingest_task = asyncio.create_task(ingested_at(probe))
        ok = await run.watch(
            f"metrics x{workers}",
            a.samples,
            sent,
            lambda: ingest_task.done() and len(run.receiver.first) >= expected,
            # arrivals count as progress too: breach alerts trickle out at the Deliverer's
            # rate limit long after ingest ends, which is not a stall
            progress_of=lambda: (
                sent.value if not ingest_task.done() else a.samples + len(run.receiver.first)
            ),
        )
        prod = out.get(timeout=60)
        proc.join(10)
        t_in = await ingest_task
        probe.close()
        cpu1, rss1 = run.cpu_rss()
        t0 = prod["t0"]
        arrived = len(run.receiver.first)
        result = {
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
            "timeline": {
                "sent": [[s - int(t0), c] for s, c in prod["timeline"]],
                "notified": per_second(list(run.receiver.first.values()), t0),
            },
            "rss": [[round(r[0] - t0, 1), *r[1:]] for r in run.rss],
        }
        if not ok or arrived < expected:
            result["error"] = f"{expected - arrived} of {expected} breach alerts never arrived"
        result["ceiling"] = ceiling(run.ns, "metrics")
        result["ratio_to_ceiling"] = result["samples_per_s"] / result["ceiling"]["rate"]
        return result
    finally:
        await run.stop()


# -- recovery ----------------------------------------------------------------------


async def active_count(url: str, tenants: list[str]) -> int:
    total = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(300)) as http:
        for t in tenants:
            async with http.get(url + "/api/v1/alerts", params={"tenant": t}) as r:
                body = orjson.loads(await r.read())
                total += len(body.get("data", []))
    return total


async def scenario_recovery(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    tenants = balanced_tenants(10, ctx.partitions)
    env = {"BENCH_GROUP_WAIT": "1s", "BENCH_GROUP_INTERVAL": "2s"}
    run = Run(ctx, "alerts", 1, env)
    n = a.recovery_alerts
    try:
        startup = await run.start()
        _, rss0 = run.cpu_rss()
        spec = {
            "topic": run.ns.topic("alerts"),
            "kind": "recovery",
            "alertname": "Rec",
            "n": n,
            "batch": 1000,
            "rate": 0,
            "tenants": tenants,
        }
        proc, sent, started, out = run.producer(spec)
        started.set()
        ok = await run.watch(
            "recovery load", n, sent, lambda: len(run.receiver.first) >= n, stall=180
        )
        prod = out.get(timeout=60)
        proc.join(10)
        if not ok:
            raise Incomplete(f"only {len(run.receiver.first)} of {n} alerts were notified")
        load_s = max(run.receiver.first.values()) - prod["t0"]
        await asyncio.sleep(3.0)  # the last flush's log entries and offsets committed
        _, rss1 = run.cpu_rss()
        requests_before = len(run.receiver.requests)
        worker = run.workers[0]
        t_kill = time.monotonic()
        worker.kill()
        worker.start()
        # new work sent while the worker is down: it must come through after the restart
        pspec = {
            "topic": run.ns.topic("alerts"),
            "kind": "probe",
            "alertname": "Probe",
            "n": 10,
            "batch": 10,
            "rate": 0,
            "tenants": tenants[:1],
        }
        pproc, _psent, pstarted, pout = run.producer(pspec)
        pstarted.set()
        healthy = None
        async with aiohttp.ClientSession() as http:
            while time.monotonic() - t_kill < 600:
                worker.check()
                if healthy is None and (await worker.health(http))[0] == 200:
                    healthy = time.monotonic() - t_kill
                probes = run.receiver.names.items()
                if sum(v for k, v in probes if k.startswith("Probe")) >= 10:
                    break
                await asyncio.sleep(0.1)
        resumed = time.monotonic() - t_kill
        pout.get(timeout=60)
        pproc.join(10)
        await asyncio.sleep(2 * 2.0 + 2.0)  # two group intervals: any re-notification shows
        after = run.receiver.requests[requests_before:]
        renotified = [r for r in after if "Probe" not in r[2]]
        active = await active_count(worker.url, tenants)
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
            "seconds_to_resume": resumed,
            "active_after_restart": active,
            "expected_active": n + 10,
            "lost": max(0, n + 10 - active),
            "renotified": len(renotified),
            "renotified_groups": sorted({r[2] for r in renotified})[:5],
            "timeline": {
                "sent": [[s - int(prod["t0"]), c] for s, c in prod["timeline"]],
                "notified": per_second(list(run.receiver.first.values()), prod["t0"]),
            },
            "rss": [[round(r[0] - prod["t0"], 1), *r[1:]] for r in run.rss],
        }
        problems = []
        if healthy is None or resumed >= 600:
            problems.append("worker did not resume within 600 s")
        if active < n + 10:
            problems.append(f"{n + 10 - active} active alerts lost")
        if renotified:
            problems.append(f"{len(renotified)} notifications sent again after the restart")
        if problems:
            result["error"] = "; ".join(problems)
        return result
    finally:
        await run.stop()
