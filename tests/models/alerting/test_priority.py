"""Priority P1-P5: the table, the label on the alert, and routes that match on it."""

from __future__ import annotations

import pytest

from app.config.loader import ConfigError, load_text
from models.alerting.alert import Alert, parse_alerts
from models.alerting.fingerprint import fingerprint
from models.notify.routing import Route

CONFIG = """
route:
  receiver: default
  routes:
    - matchers: ['priority="P1"']
      receiver: pager
receivers: [{name: default}, {name: pager}]
priority:
  severity: {critical: P1, warning: 3, info: p5}
  default: P4
  adjust:
    - matchers: ['tier="1"']
      by: -1
    - matchers: ['env=~"dev|staging"']
      by: 2
"""


@pytest.fixture(scope="module")
def config():
    return load_text(CONFIG)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"severity": "critical"}, "P1"),
        ({"severity": "critical", "tier": "1"}, "P1"),  # clamped
        ({"severity": "warning", "tier": "1"}, "P2"),
        ({"severity": "warning", "tier": "1", "env": "dev"}, "P4"),  # both, in order
        ({"severity": "info", "env": "staging"}, "P5"),  # clamped
        ({"severity": "bogus"}, "P4"),  # the default
        ({}, "P4"),
        ({"severity": "warning", "env": "production"}, "P3"),  # regex is anchored
    ],
)
def test_priority_from_severity_and_adjustments(config, labels, expected):
    assert config.priority.build().priority(labels) == expected


def test_apply_labels_alerts_and_their_fingerprints_follow(config):
    table = config.priority.build()
    alerts, bad = parse_alerts(
        b'[{"labels": {"alertname": "A", "severity": "warning", "tier": "1"}},'
        b' {"labels": {"alertname": "B", "severity": "critical", "priority": "P5"}},'
        b' {"labels": {"alertname": "C", "severity": "warning", "tier": "1"}}]',
        "acme",
        1000.0,
    )
    assert not bad
    table.apply(alerts)
    assert [a.labels["priority"] for a in alerts] == ["P2", "P5", "P2"]  # a producer's kept
    for a in alerts:
        assert a.fingerprint == fingerprint(a.labels)
    # the same alert again (e.g. its resolution) gets the same fingerprint
    again = Alert(
        tenant="acme", labels={k: v for k, v in alerts[0].labels.items() if k != "priority"}
    )
    table.apply([again])
    assert again.fingerprint == alerts[0].fingerprint


def test_routes_match_the_priority(config):
    table = config.priority.build()
    route = Route.from_config(config.route)
    critical = Alert(tenant="t", labels={"alertname": "X", "severity": "critical"})
    warning = Alert(tenant="t", labels={"alertname": "Y", "severity": "warning"})
    table.apply([critical, warning])
    assert [r.receiver for r in route.match(critical.labels)] == ["pager"]
    assert [r.receiver for r in route.match(warning.labels)] == ["default"]


@pytest.mark.parametrize(
    ("section", "reason"),
    [
        ("priority: {default: P6}", "priority.default: 'P6' is not a priority P1..P5"),
        ("priority: {severity: {critical: high}}", "'high' is not a priority P1..P5"),
        ("priority: {adjust: [{matchers: ['tier=~\"(\"'], by: 1}]}", "priority.adjust[0].matchers"),
        ("priority: {adjust: [{matchers: ['tier=\"1\"'], by: 9}]}", "priority.adjust[0].by"),
        ("priority: {label: 'not a label'}", "priority.label: String should match pattern"),
    ],
)
def test_bad_priority_config_names_file_line_and_key(section, reason):
    text = "route: {receiver: r}\nreceivers: [{name: r}]\n" + section + "\n"
    with pytest.raises(ConfigError) as err:
        load_text(text)
    assert any(e.startswith("pipelines.yaml:3: ") and reason in e for e in err.value.errors), (
        err.value.errors
    )
