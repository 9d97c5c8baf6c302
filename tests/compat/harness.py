"""Compat harness (not a conftest: a second `conftest` module would shadow tests/conftest.py
for `from conftest import ...`): the real Alertmanager (Debian prometheus-alertmanager)
oracle, and amtool, both from /usr/bin."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from app.broker import free_port, stop_process

AM_BIN = shutil.which("prometheus-alertmanager")
AMTOOL = shutil.which("amtool")

needs_am = pytest.mark.skipif(AM_BIN is None, reason="prometheus-alertmanager not installed")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed")


class Alertmanager:
    """One prometheus-alertmanager process, gossip off, on a loopback port."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.config = tmp / "alertmanager.yml"
        self.log_path = tmp / "alertmanager.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, config_text: str) -> None:
        self.config.write_text(config_text)
        (self.tmp / "am-data").mkdir(exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                str(AM_BIN),
                f"--config.file={self.config}",
                f"--storage.path={self.tmp / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc and self.proc.poll() is None, self.log()
                try:
                    async with http.get(self.url + "/-/ready") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(self.log())

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc, 10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    am = Alertmanager(tmp_path)
    yield am
    am.stop()


def amtool(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real amtool against ``url``; returns the completed process."""
    proc = subprocess.run(
        [str(AMTOOL), f"--alertmanager.url={url}", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if check:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc
