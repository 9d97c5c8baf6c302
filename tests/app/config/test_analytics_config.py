"""``analytics:``: business hours (a team's from its members' working hours when it has
none of its own), SLA targets, and errors that name file, line and key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.config.analytics import TenantSpecs
from app.config.loader import ConfigError, load_text
from app.config.tenants import TenantConfigs, first_version, tenant_config

BASE = """
route: {receiver: none}
receivers: [{name: none}]
oncall:
  users:
    - name: alice
      time_zone: Asia/Tokyo
      working_hours:
        - {weekdays: [monday:friday], times: [{start_time: "09:00", end_time: "18:00"}]}
  teams: [{name: dba, members: [alice]}]
analytics:
  flap_window: 30m
  business_hours:
    - time_intervals:
        - {weekdays: [monday:friday], times: [{start_time: "08:00", end_time: "16:00"}]}
    - tenant: acme
      time_intervals: [{weekdays: [saturday]}]
  sla:
    - {name: critical, severity: critical, acknowledge_within: 15m, resolve_within: 4h}
"""


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_business_hours_most_specific_wins_and_teams_work_when_members_do():
    config = load_text(BASE, "p.yaml", {})
    spec = config.analytics.build(config.oncall)
    assert spec.flap_window == 1800
    tuesday_noon, saturday_noon = at("2026-11-17T12:00:00"), at("2026-11-21T12:00:00")
    assert spec.in_business_hours("globex", "", tuesday_noon)
    assert not spec.in_business_hours("globex", "", saturday_noon)
    assert spec.in_business_hours("acme", "", saturday_noon)  # the tenant's own
    assert not spec.in_business_hours("acme", "", tuesday_noon)
    # dba works in Tokyo: 01:00 UTC is 10:00 there, 12:00 UTC is 21:00
    assert spec.in_business_hours("acme", "dba", at("2026-11-17T01:00:00"))
    assert not spec.in_business_hours("acme", "dba", tuesday_noon)
    [target] = spec.sla
    assert (target.acknowledge_within, target.resolve_within) == (900, 14400)


@pytest.mark.parametrize(
    ("change", "broken", "reason"),
    [
        ("acknowledge_within: 15m, resolve_within: 4h", "severity: x", "acknowledge_within or"),
        (
            "acknowledge_within: 15m",
            "acknowledge_within: soon",
            "analytics.sla[0].acknowledge_within",
        ),
        ("flap_window: 30m", "flap_windw: 30m", "flap_windw"),
        ('end_time: "16:00"', 'end_time: "26:00"', "analytics.business_hours[0]"),
    ],
)
def test_bad_analytics_config_is_refused_with_line_and_key(change, broken, reason):
    with pytest.raises(ConfigError) as info:
        load_text(BASE.replace(change, broken, 1), "p.yaml", {})
    assert any(reason in e and "p.yaml:" in e for e in info.value.errors), info.value.errors


TENANT = """
route: {receiver: none}
receivers: [{name: none}]
analytics:
  sla:
    - {name: acme-fast, acknowledge_within: 5m}
  business_hours:
    - time_intervals: [{weekdays: [sunday]}]
"""


def test_a_tenant_s_own_sla_targets_and_business_hours_replace_the_file_s_for_it():
    base = load_text(BASE, "p.yaml", {})
    specs = TenantSpecs(base)
    configs = TenantConfigs(base, {"acme": ("acme.yaml", tenant_config(base, TENANT, "a.yaml"))})
    configs.subscribe(specs.swap)
    for tenant in configs.tenants():
        specs.swap(tenant, configs.config_for(tenant), 0.0)
    acme, globex = specs.spec_for("acme"), specs.spec_for("globex")
    assert [(t.name, t.tenant, t.acknowledge_within) for t in acme.sla] == [
        ("acme-fast", "acme", 300)
    ]
    assert [t.name for t in globex.sla] == ["critical"]
    sunday, tuesday_noon = at("2026-11-22T12:00:00"), at("2026-11-17T12:00:00")
    assert acme.in_business_hours("acme", "", sunday)
    assert not acme.in_business_hours("acme", "", tuesday_noon)
    assert globex.in_business_hours("globex", "", tuesday_noon)
    assert acme.flap_window == globex.flap_window == 1800  # worker-wide
    # a version without targets of its own: the file's again
    configs.apply(first_version("globex", TENANT.split("analytics:")[0], "api", 1.0), 1.0)
    configs.reload(base, {"acme": ("acme.yaml", tenant_config(base, BASE_ROUTE, "a.yaml"))}, 2.0)
    assert [t.name for t in specs.spec_for("acme").sla] == ["critical"]
    assert specs.spec_for("globex") is specs.default


BASE_ROUTE = "route: {receiver: none}\nreceivers: [{name: none}]\n"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("  flap_window: 1h\n", "a.yaml:7: analytics.flap_window: worker-wide"),
        (
            "  sla:\n    - {name: x, tenant: globex, acknowledge_within: 1m}\n",
            "a.yaml:8: analytics.sla[0].tenant: not allowed in a tenant's config",
        ),
    ],
)
def test_a_tenant_s_analytics_holds_only_its_targets_and_hours(extra, reason):
    base = load_text(BASE, "p.yaml", {})
    text = TENANT.replace("  sla:\n    - {name: acme-fast, acknowledge_within: 5m}\n", "")
    with pytest.raises(ConfigError) as info:
        tenant_config(base, text + extra, "a.yaml")
    assert any(e.startswith(reason) for e in info.value.errors), info.value.errors
