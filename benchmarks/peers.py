"""The peers a test or a benchmark talks to: the reference Alertmanager and a loopback
webhook receiver.

Tests (``tests/conftest.py``, ``tests/compat/``) and the benchmark harness import them
from here, so there is one way to start Alertmanager and one way to record what a
webhook receives. The product (``app``, ``agents``, ``models``...) never imports this.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web

from app.broker import free_port, stop_process

ALERTMANAGER_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


async def wait_answering(
    url: str,
    proc: subprocess.Popen[bytes] | None,
    log: Callable[[], str],
    timeout: float,
    every: float = 0.1,
) -> None:
    """Poll ``GET url`` until it answers 200 (a process's readiness or health page); fail
    with the process's log if it exits or the deadline passes."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc is None or proc.poll() is not None:
                raise RuntimeError(f"the process behind {url} exited\n{log()}")
            try:
                async with http.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(every)
    raise TimeoutError(f"{url} not answering 200 after {timeout:.0f}s\n{log()}")


class AlertmanagerProcess:
    """One Alertmanager process, gossip off, on a loopback port, logging to its work dir."""

    def __init__(self, work_dir: Path, binary: str | None = ALERTMANAGER_BIN) -> None:
        if binary is None:
            raise FileNotFoundError("Alertmanager is not installed (prometheus-alertmanager)")
        self.binary = binary
        self.work_dir = work_dir
        self.port = free_port()
        self.config = work_dir / "alertmanager.yml"
        self.log_path = work_dir / "alertmanager.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, config: str | dict[str, Any]) -> None:
        """Write the configuration (YAML text or a dict) and start the process."""
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        self.config.write_text(text)
        storage = self.work_dir / "am-data"
        storage.mkdir(exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child holds it)
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.config}",
                f"--storage.path={storage}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self, timeout: float = 30.0) -> None:
        await wait_answering(self.url + "/-/ready", self.proc, self.log, timeout)

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        return (out.stderr or out.stdout).split("\n")[0]

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc, 10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


def api_request(
    conn: http.client.HTTPConnection, method: str, path: str, body: Any = None
) -> bytes:
    """One blocking JSON request on a kept-alive connection (the fastest way to post alerts
    from a load process); raises on a status of 300 or more."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    if resp.status >= 300:
        raise RuntimeError(f"{method} {path}: {resp.status} {payload[:300]!r}")
    return payload


@dataclass(frozen=True, slots=True)
class Arrival:
    """One notification as it arrived."""

    at: float  # time.time() on arrival
    alerts: int  # alerts it carried
    group_key: str


class WebhookReceiver:
    """A loopback webhook that records what arrives.

    Every request: its arrival (time, alerts, group key) and, with ``keep_payloads``, its
    JSON body and headers. Every firing alert: how many notifications carried it (a
    multiset, so a duplicate shows), its first arrival, and the seconds since its
    ``bench_created`` annotation when it has one. Answers ``status`` (settable).
    """

    def __init__(self, *, keep_payloads: bool = True, status: int = 200) -> None:
        self.port = free_port()
        self.status = status
        self.keep_payloads = keep_payloads
        self.arrivals: list[Arrival] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.firing: Counter[str] = Counter()  # fingerprint -> notifications carrying it
        self.first: dict[str, float] = {}  # fingerprint -> first firing arrival
        self.names: Counter[str] = Counter()  # alertname -> distinct fingerprints firing
        self.latency: list[tuple[float, float]] = []  # (arrival, seconds since creation)
        self.alerts_total = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        now = time.time()
        doc = orjson.loads(await request.read())
        notification = doc if isinstance(doc, dict) else {}
        alerts = notification.get("alerts", [])
        self.arrivals.append(Arrival(now, len(alerts), notification.get("groupKey", "")))
        if self.keep_payloads:
            self.requests.append(doc)
            self.headers.append(dict(request.headers))
        self.alerts_total += len(alerts)
        for a in alerts:
            fp = a.get("fingerprint")
            if a.get("status") != "firing" or fp is None:
                continue
            self.firing[fp] += 1
            if fp in self.first:
                continue
            self.first[fp] = now
            self.names[a["labels"].get("alertname", "")] += 1
            created = a.get("annotations", {}).get("bench_created")
            if created:
                self.latency.append((now, now - float(created)))
        return web.Response(status=self.status)

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Wait (with a deadline) until ``count`` requests arrived; the payloads so far."""
        deadline = time.monotonic() + timeout
        while len(self.arrivals) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return self.requests
