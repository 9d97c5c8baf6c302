"""Shared fixtures: one embedded broker per session, workers as real processes,
loopback HTTP receivers that record what they get."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.broker import embedded_broker, free_port, stop_process
from benchmarks.peers import WebhookReceiver as Receiver
from benchmarks.peers import wait_answering

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with embedded_broker(log_path=str(log)) as url:
        yield url


class Worker:
    """An `alertstream worker` process with its own app id, topics, data dir and port."""

    def __init__(self, broker: str, pipelines: Path, tmp: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.namespace = f"t{uuid.uuid4().hex[:8]}"
        self.data_dir = tmp / "data"
        self.log_path = tmp / "worker.log"
        self.env = {
            **os.environ,
            "ALERTSTREAM_BROKER": broker,
            "ALERTSTREAM_PIPELINES": str(pipelines),
            "ALERTSTREAM_DATA_DIR": str(self.data_dir),
            "ALERTSTREAM_WEB_PORT": str(self.port),
            "ALERTSTREAM_APP_ID": self.namespace,
            "ALERTSTREAM_TOPIC_PREFIX": f"{self.namespace}.",
            "ALERTSTREAM_PARTITIONS": "2",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def topic(self, name: str) -> str:
        return f"{self.namespace}.{name}"

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--loglevel", "info"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self, timeout: float = 90.0) -> None:
        await wait_answering(self.url + "/healthz", self.proc, self.log, timeout, every=0.3)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc, 15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    async def partitions(self) -> int:
        """How many partitions this worker owns now (0 while it starts or rebalances)."""
        import aiohttp

        async with aiohttp.ClientSession() as http, http.get(self.url + "/healthz") as r:
            return (await r.json())["partitions"] if r.status == 200 else 0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
def make_worker(broker: str, tmp_path: Path) -> Iterator:
    workers: list[Worker] = []

    def make(pipelines_text: str, env: dict[str, str] | None = None) -> Worker:
        path = tmp_path / "pipelines.yaml"
        path.write_text(pipelines_text)
        w = Worker(broker, path, tmp_path, env or {})
        workers.append(w)
        return w

    yield make
    for w in workers:
        w.stop()


async def eventually(check: Callable[[], Any], timeout: float = 20.0, every: float = 0.2) -> Any:
    """Poll ``check`` (sync or async) until it answers something truthy or ``timeout``
    seconds pass; returns its last answer, so the caller asserts on what it saw."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if inspect.isawaitable(got):
            got = await got
        if got or time.monotonic() > deadline:
            return got
        await asyncio.sleep(every)


def read_topic(broker: str, topic: str, want: int, timeout: float = 20.0) -> list:
    """Every JSON item on a topic from the start (no consumer group: assigned partitions)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": broker.removeprefix("kafka://"),
            "group.id": f"reader-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
        }
    )
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
    items: list = []
    deadline = time.time() + timeout
    while len(items) < want and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            value = orjson.loads(msg.value())
            items += value if isinstance(value, list) else [value]
    consumer.close()
    return items
