"""Compat harness (not a conftest: a second `conftest` module would shadow tests/conftest.py
for `from conftest import ...`): the real Alertmanager (Debian prometheus-alertmanager)
oracle, and amtool, both from /usr/bin."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.peers import ALERTMANAGER_BIN as AM_BIN
from benchmarks.peers import AlertmanagerProcess as Alertmanager

AMTOOL = shutil.which("amtool")

_INSTALL = "install Debian's prometheus-alertmanager package (.ci/run does)"
needs_am = pytest.mark.skipif(
    AM_BIN is None,
    reason=f"Alertmanager oracle missing: no prometheus-alertmanager on PATH; {_INSTALL}",
)
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason=f"amtool missing: no amtool on PATH; {_INSTALL}"
)


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
