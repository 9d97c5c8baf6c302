"""What the harness starts and watches: broker, workers, lag probe, /proc probes (the
webhook receiver and Alertmanager are in ``benchmarks.peers``).

Everything runs on loopback; each scenario gets its own app id and topic prefix on
one embedded broker, so scenarios never see each other's records or offsets.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from aiokafka.partitioner import murmur2

from app.broker import declare_topics, free_port, start_broker, stop_process

ROOT = Path(__file__).resolve().parents[2]
PIPELINES_DIR = ROOT / "benchmarks" / "pipelines"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default (murmur2) partitioner, which confluent's murmur2_random matches."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def balanced_tenants(count: int, partitions: int, prefix: str = "tenant") -> list[str]:
    """Tenant names spread evenly over the partitions (so 2 workers share the load)."""
    per = -(-count // partitions)
    taken = [0] * partitions
    out: list[str] = []
    j = 0
    while len(out) < count:
        name = f"{prefix}{j:03d}"
        p = partition_of(name.encode(), partitions)
        if taken[p] < per:
            taken[p] += 1
            out.append(name)
        j += 1
    return out


def proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds user+system, RSS MiB) of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        cpu = (int(parts[11]) + int(parts[12])) / CLK_TCK
        rss = int(parts[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        return cpu, rss
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0


def machine() -> dict[str, object]:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gib": round(mem_kb / 2**20, 1)}


class Broker:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.proc = start_broker(self.port, log_path=str(log_dir / "broker.log"))
        self.url = f"kafka://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc, 0.5)  # memory only, nothing to save; it ignores SIGTERM


@dataclass
class Namespace:
    """One scenario run's app id, topic prefix and partition count."""

    broker: str
    partitions: int
    name: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:8]}")

    @property
    def prefix(self) -> str:
        return self.name + "."

    def topic(self, name: str) -> str:
        return self.prefix + name

    def declare(self) -> None:
        from channels import CHANNELS

        names = ["metrics", "events", "alerts", "dlq", "history", "commands"]
        names += ["notifications.receipts", *(f"notifications.{k}" for k in CHANNELS)]
        declare_topics(self.broker, [self.topic(n) for n in names], self.partitions)


class WorkerProc:
    """An `alertstream worker` subprocess with its own data dir and web port."""

    def __init__(self, ns: Namespace, pipelines: Path, run_dir: Path, index: int, env: dict):
        self.index = index
        self.port = free_port()
        self.data_dir = run_dir / f"worker{index}"
        self.log_path = run_dir / f"worker{index}.log"
        self.env = {
            **os.environ,
            "ALERTSTREAM_BROKER": ns.broker,
            "ALERTSTREAM_PIPELINES": str(pipelines),
            "ALERTSTREAM_DATA_DIR": str(self.data_dir),
            "ALERTSTREAM_WEB_PORT": str(self.port),
            "ALERTSTREAM_APP_ID": ns.name,
            "ALERTSTREAM_TOPIC_PREFIX": ns.prefix,
            "ALERTSTREAM_PARTITIONS": str(ns.partitions),
            # offsets committed often, so the harness can see when a worker caught up
            "BROKER_COMMIT_INTERVAL": "0.5",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.started = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--loglevel", "warn"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def health(self, http: aiohttp.ClientSession) -> tuple[int, int]:
        """(HTTP status, partitions assigned); (0, 0) while it does not answer."""
        try:
            async with http.get(self.url + "/healthz", timeout=aiohttp.ClientTimeout(2)) as r:
                body = await r.json(loads=orjson.loads)
                return r.status, int(body.get("partitions", 0))
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return 0, 0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check(self) -> None:
        if not self.alive():
            raise RuntimeError(f"worker {self.index} exited\n{self.log()}")

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            stop_process(self.proc, 20)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


async def wait_healthy(workers: list[WorkerProc], timeout: float = 120.0) -> float:
    """Wait until every worker answers 200 with partitions and the assignment is stable."""
    t0 = time.monotonic()
    stable_since = None
    async with aiohttp.ClientSession() as http:
        while time.monotonic() - t0 < timeout:
            for w in workers:
                w.check()
            states = [await w.health(http) for w in workers]
            if all(s == 200 and p > 0 for s, p in states):
                stable_since = stable_since or time.monotonic()
                if len(workers) == 1 or time.monotonic() - stable_since > 2.0:
                    return time.monotonic() - t0
            else:
                stable_since = None
            await asyncio.sleep(0.2)
    raise TimeoutError(f"workers not healthy after {timeout:.0f}s\n{workers[0].log()}")


class LagProbe:
    """Records committed by the app's consumer group vs records in one topic (no join)."""

    def __init__(self, ns: Namespace, topic: str) -> None:
        from confluent_kafka import Consumer, TopicPartition

        from app.client import bootstrap_servers

        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers(ns.broker),
                "group.id": ns.name,
                "enable.auto.commit": False,
            }
        )
        self.tps = [TopicPartition(ns.topic(topic), p) for p in range(ns.partitions)]

    def read(self) -> tuple[int, int]:
        done = sum(max(tp.offset, 0) for tp in self.consumer.committed(self.tps, timeout=10))
        end = sum(self.consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in self.tps)
        return done, end

    def close(self) -> None:
        self.consumer.close()
