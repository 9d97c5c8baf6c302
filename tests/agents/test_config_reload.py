"""SIGHUP's reload without a worker: the pipelines file and its tenant files, validated
first (a bad one changes nothing and every error is returned), then swapped."""

from __future__ import annotations

from pathlib import Path

from agents.config_updates import reload_file
from app.config.tenants import TenantConfigs, load_all

PIPELINES = """
rules: [{alert: HighCpu, metric: cpu, window: 10s, condition: "> 90"}]
route: {receiver: ops}
receivers: [{name: ops, webhook_configs: [{url: "http://127.0.0.1:9/ops"}]}]
"""
TENANT = """
route: {receiver: team}
receivers: [{name: team, webhook_configs: [{url: "http://127.0.0.1:9/team"}]}]
"""


def test_a_bad_reload_changes_nothing_and_a_good_one_swaps(tmp_path: Path):
    path = tmp_path / "pipelines.yaml"
    path.write_text(PIPELINES)
    base, files = load_all(path)
    configs = TenantConfigs(base, files)
    seen: list[tuple[str | None, str]] = []
    configs.subscribe(lambda tenant, cfg, now: seen.append((tenant, cfg.route.receiver)))

    path.write_text(PIPELINES + "tenant_files: {acme: acme.yaml}\n")  # acme.yaml is missing
    (tmp_path / "bad.yaml").write_text(TENANT.replace("team}", "team, group_wait: 1x}"))
    errors = reload_file(configs, str(path))
    assert errors == [f"{tmp_path / 'acme.yaml'}: cannot read: No such file or directory"]
    path.write_text(PIPELINES.replace("> 90", "nonsense") + "tenant_files: {acme: bad.yaml}\n")
    errors = reload_file(configs, str(path))
    assert [e.split(": ")[1] for e in errors] == ["rules[0].condition"]
    path.write_text(PIPELINES + "tenant_files: {acme: bad.yaml}\n")
    errors = reload_file(configs, str(path))
    assert [e.split(": ")[1] for e in errors] == ["route.group_wait"]
    assert seen == [] and configs.base is base and configs.tenants() == []

    (tmp_path / "acme.yaml").write_text(TENANT)
    path.write_text(PIPELINES.replace("> 90", "> 95") + "tenant_files: {acme: acme.yaml}\n")
    assert reload_file(configs, str(path)) == []
    assert seen == [(None, "ops"), ("acme", "team")]
    assert configs.config_for("acme").route.receiver == "team"
    assert configs.config_for("other").rules[0].to_spec().threshold == 95.0
