"""Per-tenant configs without Kafka: validation with every error, versions, installing
and refusing, what a change does, and the loader reporting every error of a file."""

from __future__ import annotations

import pytest

from app.config.loader import ConfigError, load_text
from app.config.tenants import (
    HISTORY,
    ConfigVersion,
    TenantConfigs,
    describe_changes,
    first_version,
    tenant_config,
)

BASE = load_text(
    """
route: {receiver: ops}
receivers: [{name: ops, webhook_configs: [{url: "http://127.0.0.1:9/ops"}]}]
"""
)
TENANT = """
rules:
  - {alert: HighCpu, metric: cpu, window: 10s, condition: "> 90"}
  - {alert: HighMem, metric: mem, window: 10s, condition: "> 80"}
route: {receiver: team-a}
receivers: [{name: team-a, webhook_configs: [{url: "http://127.0.0.1:9/a"}]}]
"""


def errors_of(text: str, **kw) -> list[str]:
    with pytest.raises(ConfigError) as info:
        tenant_config(BASE, text, "a.yaml", **kw)
    return info.value.errors


def test_validate_reports_an_unset_variable_and_the_schema_errors_together():
    text = """route: {receiver: r, group_wait: 1x}
receivers:
  - name: r
    webhook_configs: [{url: "${HOOK}"}]
bogus: 1
"""
    with pytest.raises(ConfigError) as info:
        load_text(text, "p.yaml", {})
    assert info.value.errors == [
        "p.yaml:4: receivers[0].webhook_configs[0].url: environment variable HOOK is not set",
        "p.yaml:1: route.group_wait: '1x' is not a duration such as 30s, 5m or 4h",
        "p.yaml:5: bogus: unknown key",
    ]


def test_a_tenant_config_holds_only_its_own_part_and_every_error_is_named():
    errors = errors_of(TENANT + "delivery: {rate: 1}\nlimits: {max_active_alerts: 1}\n")
    assert errors[0].startswith("a.yaml:7: delivery: not allowed here (allowed: rules,")
    assert errors[1].startswith("a.yaml:8: limits: not allowed here")
    bad = errors_of(TENANT.replace("> 90", "about 3").replace("http://127.0.0.1:9/a", "ftp://x"))
    assert [e.split(":")[:3] for e in bad] == [
        ["a.yaml", "3", " rules[0].condition"],
        ["a.yaml", "6", " receivers[0].webhook_configs[0].url"],
    ]


def test_a_posted_config_sees_no_environment_variables():
    text = TENANT.replace("http://127.0.0.1:9/a", "${HOME}")
    assert errors_of(text) == [
        "a.yaml:6: receivers[0].webhook_configs[0].url: environment variable HOME is not set"
    ]


def test_json_is_accepted_and_keeps_the_worker_wide_settings():
    cfg = tenant_config(
        BASE,
        '{"route": {"receiver": "x"}, "receivers": [{"name": "x", "webhook_configs": '
        '[{"url": "http://127.0.0.1:9/x"}]}]}',
        "x.json",
    )
    assert cfg.route.receiver == "x" and cfg.delivery == BASE.delivery


def test_versions_increase_and_carry_a_bounded_history():
    v = first_version("a", "one", "api", 1.0)
    for i in range(HISTORY + 3):
        v = v.following(f"text {i}", "api", 2.0 + i)
    assert v.version == HISTORY + 4 and len(v.history) == HISTORY
    assert [h["version"] for h in v.history] == list(range(HISTORY + 3, 3, -1))
    again = ConfigVersion.from_wire(v.to_wire())
    assert again == v
    with pytest.raises(ValueError, match="not a config version"):
        ConfigVersion.from_wire(b'{"tenant": "a"}')


def test_a_bad_version_is_refused_and_the_running_one_stays():
    configs = TenantConfigs(BASE)
    seen: list[tuple[str | None, str]] = []
    configs.subscribe(lambda tenant, cfg, now: seen.append((tenant, cfg.route.receiver)))
    v1 = first_version("a", TENANT, "api", 1.0)
    assert configs.apply(v1, 1.0) == []
    v2 = v1.following(TENANT.replace("> 90", "bogus"), "api", 2.0)
    errors = configs.apply(v2, 2.0)
    assert errors and "rules[0].condition" in errors[0]
    assert configs.versions["a"] is v1 and configs.refused["a"][0] == 2
    assert configs.apply(v1, 3.0) == []  # not newer: nothing happens
    assert seen == [("a", "team-a")]
    assert configs.config_for("a").route.receiver == "team-a"
    assert configs.config_for("b") is BASE
    assert configs.receiver("a", "team-a") is not None and configs.receiver("b", "team-a") is None


def test_describe_changes_names_kept_changed_added_and_removed_rules():
    old = tenant_config(BASE, TENANT, "a.yaml")
    text = TENANT.replace("> 80", "> 85").replace(
        "  - {alert: HighCpu",
        "  - {alert: Disk, metric: disk, window: 10s, condition: '> 1'}\n  - {alert: HighCpu",
    )
    new = tenant_config(BASE, text.replace('/a"', '/a2"'), "a.yaml")
    assert describe_changes(old, new) == [
        "rule Disk: added",
        "rule HighMem: changed (fresh windows and models)",
        "receiver team-a: changed",
    ]
    gone = tenant_config(BASE, TENANT.replace("  - {alert: HighMem", "  # "), "a.yaml")
    assert describe_changes(old, gone) == ["rule HighMem: removed (its firing alerts resolve)"]
