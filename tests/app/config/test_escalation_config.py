"""``escalation_policies:``, ``escalation_contacts:`` and ``escalation:`` on routes."""

from __future__ import annotations

import pytest

from app.config.escalation import route_policies
from app.config.loader import ConfigError, load_text
from models.escalation.policy import NOT_RESOLVED, Target

BASE = """
route:
  receiver: none
  escalation: db
  routes:
    - matchers: ['team="web"']
      escalation: web
    - matchers: ['team="db"']
receivers:
  - name: none
  - name: pager
    webhook_configs: [{url: "http://127.0.0.1:9/hook"}]
time_intervals:
  - name: office
    time_intervals: [{weekdays: [monday:friday]}]
oncall:
  users:
    - {name: alice, email: alice@example.com, phone: "+4915112345678", skills: [pg]}
    - {name: bob, slack_id: U0BOB}
  teams:
    - {name: dba, members: [alice, bob]}
escalation_contacts:
  email: {smarthost: "127.0.0.1:25", from: "pager@example.com", require_tls: false}
  slack: {api_url: "https://slack.example.com/api/chat.postMessage"}
escalation_policies:
  - name: db
    repeat: 1
    sla: {acknowledge: 15m}
    steps:
      - notify: {receivers: [pager]}
        wait: 5m
      - notify: {team: dba, pick: least_loaded, skills: ["{{ .Labels.component }}"]}
        if: not_resolved
        active_time_intervals: [office]
  - name: web
    steps:
      - notify: {users: [alice, bob], pick: round_robin, working_hours: true}
"""


def test_policies_routes_and_contacts_build():
    config = load_text(BASE, "p.yaml", {})
    db = config.escalation_policies[0].build()
    assert db.repeat == 1 and db.ack_within == 900.0 and db.positions == 4
    assert db.steps[0].wait == 300.0 and db.steps[0].target == Target("receivers", ("pager",))
    team = db.steps[1]
    assert team.when == NOT_RESOLVED and team.active_time_intervals == ("office",)
    assert team.target.skills == ("{{ Labels.component }}",)
    assert config.escalation_policies[1].build().steps[0].target.working_hours
    by_route = route_policies(config.route)
    assert sorted(by_route.values()) == ["db", "db", "web"]  # the db child inherits
    users = {r.name: r for r in config.receivers if r.name.startswith("user:")}
    assert [k for k, _, _ in users["user:alice"].integrations()] == ["email"]
    assert [k for k, _, _ in users["user:bob"].integrations()] == ["slack"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("escalation: web", 'undefined escalation policy "nope"'),
        ("receivers: [pager]", 'step 1: undefined receiver "ghost"'),
        ("team: dba", 'undefined team "ops"'),
        ("active_time_intervals: [office]", 'undefined time interval "weekend"'),
        ("pick: least_loaded", "pick: one of all, round_robin, least_loaded"),
        ("if: not_resolved", "if: one of not_acknowledged, not_resolved"),
    ],
)
def test_bad_references_are_named(change, reason):
    broken = {
        "escalation: web": "escalation: nope",
        "receivers: [pager]": "receivers: [ghost]",
        "team: dba": "team: ops",
        "active_time_intervals: [office]": "active_time_intervals: [weekend]",
        "pick: least_loaded": "pick: random",
        "if: not_resolved": "if: maybe",
    }[change]
    with pytest.raises(ConfigError) as info:
        load_text(BASE.replace(change, broken, 1), "p.yaml", {})
    assert any(reason in e for e in info.value.errors), info.value.errors


def test_a_step_names_exactly_one_target():
    text = BASE.replace("notify: {receivers: [pager]}", "notify: {receivers: [pager], team: dba}")
    with pytest.raises(ConfigError) as info:
        load_text(text, "p.yaml", {})
    assert any("exactly one of" in e for e in info.value.errors), info.value.errors
