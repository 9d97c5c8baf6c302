"""One measured run, written once for every scenario: workers and a webhook receiver
started, a producer process driven, progress watched (with a stall deadline), RSS
sampled, and the figures every result shares (rates, percentiles, timelines)."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks.harness import configs, load
from benchmarks.harness.infra import (
    Broker,
    LagProbe,
    Namespace,
    WorkerProc,
    proc_stat,
    wait_healthy,
)
from benchmarks.peers import WebhookReceiver

SPAWN = mp.get_context("spawn")


class Incomplete(RuntimeError):
    """Something sent never arrived: the run is not a result."""


@dataclass
class Ctx:
    """What every scenario of one invocation shares."""

    broker: Broker
    run_dir: Path
    args: Any
    partitions: int = 4
    notes: list[str] = field(default_factory=list)
    found: dict[str, float] = field(default_factory=dict)  # e.g. the sustained rate

    @property
    def worker_counts(self) -> list[int]:
        return [int(x) for x in str(self.args.workers).split(",") if x]


# -- figures -----------------------------------------------------------------------


def rate(n: int, t0: float, t1: float) -> float:
    return n / (t1 - t0) if t1 > t0 else 0.0


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


def timelines(sent: list[tuple[int, int]], receiver: WebhookReceiver, t0: float) -> dict:
    """Items sent and first firing arrivals per second since t0 (the plot's top panel)."""
    return {
        "sent": [[s - int(t0), n] for s, n in sent],
        "notified": per_second(list(receiver.first.values()), t0),
    }


# -- watching ----------------------------------------------------------------------


async def watch(
    label: str,
    total: int,
    progress_of: Callable[[], int],
    done: Callable[[], bool],
    *,
    tick: Callable[[], str] = lambda: "",
    stall: float = 90.0,
    limit: float = 3600.0,
) -> bool:
    """A progress bar until done() is true; False on a stall (no progress for ``stall``
    seconds) or after ``limit`` seconds. ``tick`` runs every 0.25 s (checks, sampling) and
    returns the bar's info text."""
    last, last_change = -1, time.monotonic()
    t_start = last_change
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task(label, total=total, info="")
        while True:
            info = tick()
            got = progress_of()
            bar.update(task, completed=min(got, total), info=info)
            if done():
                return True
            now = time.monotonic()
            if got != last:
                last, last_change = got, now
            elif now - last_change > stall or now - t_start > limit:
                return False
            await asyncio.sleep(0.25)


@dataclass
class Driven:
    """What one producer run gave: whether everything wanted arrived, the producer's report
    (t0, t1, items, timeline) and when the workers' committed offsets reached the end."""

    ok: bool
    produced: dict[str, Any]
    ingested_at: float | None


class Run:
    """Workers + receiver for one measured run, the producers it drives and the watching."""

    def __init__(self, ctx: Ctx, pipeline: str, workers: int, env: dict[str, str]):
        self.ctx = ctx
        self.ns = Namespace(ctx.broker.url, ctx.partitions)
        self.dir = ctx.run_dir / f"{pipeline}-{self.ns.name}"
        self.dir.mkdir(parents=True)
        self.receiver = WebhookReceiver(keep_payloads=False)
        self.env = {"BENCH_WEBHOOK_URL": self.receiver.url, **env}
        self.workers = [
            WorkerProc(self.ns, configs.path(pipeline), self.dir, i, self.env)
            for i in range(workers)
        ]
        self.rss: list[list[float]] = []  # [t, rss MiB of each worker...]
        self.profilers: list[subprocess.Popen[bytes]] = []
        self.ingest: asyncio.Task[float] | None = None  # while drive() watches a topic
        self.sent: Any = None  # the last producer's shared count of items sent
        self._next_sample = 0.0

    async def start(self) -> float:
        """Start the receiver and the workers; seconds until all are healthy."""
        await self.receiver.start()
        self.ns.declare()
        t0 = time.monotonic()
        for w in self.workers:
            w.start()
        await wait_healthy(self.workers)
        return time.monotonic() - t0

    def cpu_rss(self) -> tuple[float, float]:
        """CPU seconds and RSS MiB, summed over the live workers."""
        stats = [proc_stat(w.pid) for w in self.workers if w.alive()]
        return sum(c for c, _ in stats), sum(r for _, r in stats)

    def rss_rows(self, t0: float) -> list[list[float]]:
        return [[round(r[0] - t0, 1), *r[1:]] for r in self.rss]

    def profile(self, seconds: float) -> None:
        """py-spy on every worker for the measured stretch (--profile)."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        for w in self.workers:
            out = self.dir / f"profile-worker{w.index}.txt"
            args = ["record", "--pid", str(w.pid), "--duration", str(int(seconds))]
            args += ["--rate", "200", "--format", "raw", "--nonblocking", "-o", str(out)]
            self.profilers.append(
                subprocess.Popen([spy, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )

    def _tick(self, sent: Any) -> str:
        """Check the workers are alive; sample their RSS every --sample-every seconds."""
        for w in self.workers:
            w.check()
        now = time.monotonic()
        if now >= self._next_sample:
            self.rss.append([time.time(), *[proc_stat(w.pid)[1] for w in self.workers]])
            self._next_sample = now + self.ctx.args.sample_every
        return f"sent {sent.value:,} rss {sum(self.rss[-1][1:]):,.0f} MiB"

    async def drive(
        self,
        spec: dict[str, Any],
        label: str,
        total: int,
        done: Callable[[], bool],
        *,
        ingest_topic: str | None = None,
        progress_of: Callable[[], int] | None = None,
        stall: float = 90.0,
        limit: float = 3600.0,
    ) -> Driven:
        """Produce ``spec`` from a spawned process and watch until done() (or a stall).
        With ``ingest_topic``, also record when the workers' committed offsets reach the
        end of that topic (``self.ingest`` is that task while watching; ``self.sent`` the
        producer's count)."""
        sent, started, flushed = SPAWN.Value("q", 0), SPAWN.Event(), SPAWN.Event()
        out = SPAWN.Queue()
        self.sent = sent
        spec = {"broker": self.ns.broker, **spec}
        proc = SPAWN.Process(
            target=load.produce, args=(spec, sent, started, flushed, out), daemon=True
        )
        proc.start()
        probe = LagProbe(self.ns, ingest_topic) if ingest_topic else None
        if self.ctx.args.profile:
            self.profile(self.ctx.args.profile)
        started.set()
        if probe:
            self.ingest = asyncio.create_task(ingested_at(probe, flushed.is_set))
        try:
            ok = await watch(
                label,
                total,
                progress_of or (lambda: len(self.receiver.first)),
                done,
                tick=lambda: self._tick(sent),
                stall=stall,
                limit=limit,
            )
            produced = out.get(timeout=120)
            proc.join(10)
            t_in = await self.ingest if self.ingest else None
        finally:
            self.ingest = None
            if probe:
                probe.close()
        return Driven(ok, produced, t_in)

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


async def ingested_at(
    probe: LagProbe, produced: Callable[[], bool], timeout: float = 600.0
) -> float:
    """The time the app's committed offsets reached the end of the topic, once produced()
    says every record is in it (before, the end is only what earlier runs wrote)."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = produced()
        done, end = await loop.run_in_executor(None, probe.read)
        if ready and end and done >= end:
            return time.time()
        await asyncio.sleep(0.2)
    raise Incomplete("the workers' committed offsets never reached the end of the topic")


def ceiling(ns: Namespace, topic: str) -> dict[str, Any]:
    """The bare consumer's rate over the same topic, in its own process."""
    out = SPAWN.Queue()
    proc = SPAWN.Process(
        target=load.bare_consume, args=(ns.broker, ns.topic(topic), ns.partitions, out)
    )
    proc.start()
    result = out.get(timeout=600)
    proc.join(30)
    return result


def send_raw(ns: Namespace, topic: str, items_by_tenant: dict[str, list[dict]]) -> None:
    """One record per tenant, sent and flushed before the measured stream starts."""
    from confluent_kafka import Producer

    from app.client import bootstrap_servers

    p = Producer(
        {"bootstrap.servers": bootstrap_servers(ns.broker), "partitioner": "murmur2_random"}
    )
    for tenant, items in items_by_tenant.items():
        p.produce(ns.topic(topic), orjson.dumps(items), tenant.encode())
    if p.flush(30):
        raise RuntimeError("could not produce")


async def active_alerts(url: str, tenants: list[str]) -> int:
    """The alerts a worker holds as active, counted from its API (GET /api/v1/alerts)."""
    total = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(300)) as http:
        for t in tenants:
            async with http.get(url + "/api/v1/alerts", params={"tenant": t}) as r:
                body = orjson.loads(await r.read())
                total += len(body.get("data", []))
    return total
