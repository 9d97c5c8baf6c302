"""Worker settings from the environment: a bad value is an exit 2 with the reason, and
the CLI's flags (put in the environment after import) are read again."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import app.settings
from tests.conftest import ROOT


def test_invalid_log_format_exits_2_with_the_reason_and_no_traceback() -> None:
    env = {**os.environ, "ALERTSTREAM_LOG_FORMAT": "xml"}
    for argv in (["worker"], ["validate", "pipelines.yaml"]):
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", *argv],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done
        assert "ALERTSTREAM_LOG_FORMAT: 'xml' is not one of ('text', 'json')" in done.stderr
        assert "Traceback" not in done.stderr


def test_reread_sees_what_the_flags_put_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALERTSTREAM_LOG_FORMAT", "json")
    try:
        assert app.settings.reread().log_format == "json"
        assert app.settings.settings.log_format == "json"
    finally:
        monkeypatch.undo()
        app.settings.reread()
    assert app.settings.settings.log_format == os.environ.get("ALERTSTREAM_LOG_FORMAT", "text")
