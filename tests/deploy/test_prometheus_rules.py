"""The pipeline's own alerting rules (deploy/prometheus) pass ``promtool check rules``
and fire, with their annotations, on the series of ``alertstream-rules.test.yml``
(``promtool test rules``). CI installs promtool (Debian's prometheus package)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
RULES = HERE.parents[1] / "deploy" / "prometheus" / "alertstream-rules.yml"
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian: prometheus) missing")


def promtool(*args: str) -> str:
    done = subprocess.run(
        [str(PROMTOOL), *args], cwd=HERE, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_rules_file_is_valid():
    assert "SUCCESS: 7 rules found" in promtool("check", "rules", str(RULES))


def test_each_rule_fires_on_its_series_and_not_on_others():
    assert "SUCCESS" in promtool("test", "rules", "alertstream-rules.test.yml")
