"""The one loader: YAML -> ${VAR} -> pydantic, errors as file:line: key: reason, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config.loader import ConfigError, load_file, load_text

ROOT = Path(__file__).resolve().parents[3]
ENV = {"ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook"}


def errors_of(text: str, env: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(text, "p.yaml", env if env is not None else ENV)
    return info.value.errors


def test_the_repository_pipelines_file_validates():
    config = load_file(ROOT / "pipelines.yaml", ENV)
    [rule] = config.rules
    spec = rule.to_spec()
    assert (spec.alert, spec.aggregate, spec.window, spec.op, spec.threshold) == (
        "HighCpu",
        "avg",
        10.0,
        ">",
        90.0,
    )
    assert config.route.group_wait == 1.0 and config.route.repeat_interval == 3600.0
    [(kind, index, webhook)] = config.receivers[0].integrations()
    assert kind == "webhook" and index == 0
    assert webhook.url.get_secret_value() == ENV["ALERT_WEBHOOK_URL"]


def test_unset_variable_names_file_line_and_key():
    text = (ROOT / "pipelines.yaml").read_text()
    assert errors_of(text, env={}) == [
        "p.yaml:24: receivers[0].webhook_configs[0].url: "
        "environment variable ALERT_WEBHOOK_URL is not set"
    ]


def test_errors_name_line_and_key():
    text = """rules:
  - alert: X
    metric: m
    aggregate: avgg
    condition: "> 1"
  - alert: Y
    kind: anomaly
    metric: m
    params: {bogus: 1}
  - alert: Z
    metric: m
    condition: "about 3"
route:
  receiver: ops
  group_wait: 1x
  colour: blue
receivers:
  - name: ops
"""
    errors = errors_of(text)
    assert (
        "p.yaml:4: rules[0].aggregate: 'avgg' is not one of avg, min, max, sum, count, last, "
        "rate, p50, p90, p95, p99" in errors
    )
    assert any(e.startswith("p.yaml:6: rules[1]: params: ") and "bogus" in e for e in errors)
    assert any(
        e.startswith("p.yaml:12: rules[2].condition: 'about 3' is not a condition") for e in errors
    )
    assert "p.yaml:15: route.group_wait: '1x' is not a duration such as 30s, 5m or 4h" in errors
    assert "p.yaml:16: route.colour: unknown key" in errors


def test_missing_key_and_reference_errors():
    assert errors_of("rules: []\nreceivers: []\n") == ["p.yaml:1: route: required key is missing"]
    errors = errors_of("route: {receiver: nobody}\nreceivers: [{name: ops}]\n")
    assert errors == ['p.yaml:1: (top): undefined receiver "nobody" used in route']


def test_invalid_yaml_and_empty_file():
    assert errors_of("route: [\n")[0].startswith("p.yaml:2: invalid YAML")
    assert errors_of("") == ["p.yaml:1: the file is empty"]


def test_delivery_policy_from_config():
    config = load_text(
        "route: {receiver: a}\nreceivers: [{name: a}]\n"
        "delivery: {retry_budget: 1m, rate: 0, rate_limits: {a: 50}, breaker_cooldown: 10s}\n",
        "p.yaml",
        {},
    )
    policy = config.delivery.policy()
    assert policy.retry.budget == 60.0 and policy.breaker.cooldown == 10.0
    assert policy.rate_limit.rate == 0.0 and policy.receiver_rate_limits["a"].rate == 50.0


def test_validate_command_exit_codes(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("route: {receiver: ops}\nreceivers: [{name: ops, webhook_configs: [{}]}]\n")
    cli = [sys.executable, "-m", "app.cli", "validate"]
    ok = subprocess.run(
        [*cli, str(ROOT / "pipelines.yaml")],
        capture_output=True,
        text=True,
        env={"ALERT_WEBHOOK_URL": "http://x/y", "PATH": "/usr/bin"},
        cwd=ROOT,
    )
    assert ok.returncode == 0 and "ok (1 rules, 1 receivers)" in ok.stdout
    no = subprocess.run([*cli, str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert no.returncode == 2
    assert f"{bad}:2: receivers[0].webhook_configs[0]: url is required" in no.stderr
