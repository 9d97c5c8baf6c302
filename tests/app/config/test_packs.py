"""Rule packs: every built-in pack loads and validates, parameters apply, errors in a
pack name the pack file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.config.include import builtin_packs
from app.config.loader import ConfigError, load_file, load_text

HEAD = "route: {receiver: r}\nreceivers: [{name: r}]\n"
PACKS = [p.stem for p in builtin_packs()]


def pack_rules(name: str) -> list[str]:
    data = yaml.safe_load(Path(f"app/config/packs/{name}.yaml").read_text())
    return [r["alert"] for r in data.get("rules", []) + data.get("event_rules", [])]


def test_the_families_of_the_issue_are_all_there():
    assert PACKS == ["application", "availability", "capacity", "ml", "security", "system"]


@pytest.mark.parametrize("name", PACKS)
def test_every_pack_loads_with_its_defaults_and_every_rule_builds(name):
    config = load_text(HEAD + f"include: {{pack: {name}}}\n")
    loaded = [r.alert for r in config.rules + config.event_rules]
    assert loaded == pack_rules(name)
    for rule in config.rules + config.event_rules:
        rule.to_spec()


def test_all_packs_together_and_the_docs_list_every_rule():
    text = HEAD + "include:\n" + "".join(f"  - packs/{n}.yaml\n" for n in PACKS)
    config = load_text(text)
    names = [r.alert for r in config.rules + config.event_rules]
    assert sorted(names) == sorted(n for p in PACKS for n in pack_rules(p))
    docs = Path("docs/rules.md").read_text()
    assert [n for n in names if f"`{n}`" not in docs] == []


def test_parameters_apply_whole_embedded_and_multiplied():
    config = load_text(
        HEAD
        + "include:\n"
        + "  - pack: system\n"
        + "    params: {cpu_threshold: 85, cpu_clear: 70, match: {env: prod}, for: 1m}\n"
        + "  - pack: application\n"
        + "    params: {error_budget: 0.0005, join_on: [service, region]}\n"
    )
    specs = {r.alert: r.to_spec() for r in config.rules}
    cpu = specs["HostHighCpu"]
    assert (cpu.op, cpu.threshold, cpu.clear_threshold, cpu.for_) == (">", 85.0, 70.0, 60.0)
    assert cpu.match == {"env": "prod"} and specs["HostHighMemory"].match == {"env": "prod"}
    fast = specs["ErrorBudgetBurnFast"]
    assert fast.join_on == ("service", "region")
    assert [(s.window, s.threshold) for s in fast.inner] == [(3600.0, 0.0072), (300.0, 0.0072)]
    slow = specs["ErrorBudgetBurnSlow"]
    assert [(s.window, s.threshold) for s in slow.inner] == [
        (86400.0, 0.0015), (7200.0, 0.0015), (259200.0, 0.0005), (21600.0, 0.0005),
    ]  # fmt: skip


def test_exclude_and_rules_of_the_file_itself_come_first(tmp_path):
    config = load_text(
        HEAD
        + "rules: [{alert: Mine, metric: m, condition: '> 1'}]\n"
        + "include: {pack: ml, exclude: [ModelAccuracyUnusual, DataDrift]}\n"
    )
    assert [r.alert for r in config.rules] == ["Mine"] + [
        n for n in pack_rules("ml") if n not in ("ModelAccuracyUnusual", "DataDrift")
    ]


def test_a_path_resolves_beside_the_including_file_before_the_built_in_packs(tmp_path):
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "system.yaml").write_text(
        "pack: system\nparams: {}\nrules:\n  - {alert: LocalCpu, metric: cpu, condition: '> 1'}\n"
    )
    main = tmp_path / "pipelines.yaml"
    main.write_text(HEAD + "include: [packs/system.yaml, {pack: ml}]\n")
    config = load_file(main)
    assert [r.alert for r in config.rules][:2] == ["LocalCpu", "ModelAccuracyDegraded"]


def test_errors_in_a_pack_name_the_pack_file_line_and_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("mine.yaml").write_text(
        "pack: mine\n"
        "params:\n"
        "  limit: {default: 90}\n"
        "rules:\n"
        "  - alert: Good\n"
        "    metric: cpu\n"
        "    condition: '> ${params.limit}'\n"
        "  - alert: Bad\n"
        "    metric: cpu\n"
        "    aggregate: avgg\n"
        "    condition: '> ${params.limt}'\n"
        "bogus: 1\n"
    )
    Path("pipelines.yaml").write_text(
        HEAD
        + "include:\n"
        + "  - {file: mine.yaml, params: {limit: high}}\n"
        + "  - {pack: system, params: {cpu_treshold: 1}}\n"
        + "  - {pack: nope}\n"
        + "  - {pack: ml, exclude: [NotThere]}\n"
        + "  - /etc/passwd\n"
        + "  - {file: ../secrets.yaml}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_file("pipelines.yaml")
    builtin = str(Path(__file__).parents[3] / "app/config/packs")
    assert [e.replace(builtin, "BUILTIN") for e in err.value.errors] == [
        "mine.yaml:12: bogus: unknown key",
        "pipelines.yaml:4: include[0]: params.limit: expected a number like 90",
        "mine.yaml:11: rules[1].condition: unknown parameter limt (declared: limit)",
        "pipelines.yaml:5: include[1]: params.cpu_treshold: not a parameter of "
        "BUILTIN/system.yaml (known: match, cpu_threshold, cpu_clear, memory_threshold, "
        "memory_clear, disk_threshold, disk_fill_horizon, iowait_threshold, "
        "network_errors_per_second, for)",
        "pipelines.yaml:6: include[2]: packs/nope.yaml: no such pack file (built-in packs: "
        "application, availability, capacity, ml, security, system)",
        "pipelines.yaml:7: include[3]: exclude: NotThere: not a rule of BUILTIN/ml.yaml",
        "pipelines.yaml:8: include[4]: /etc/passwd: a pack is a relative .yaml path without '..'",
        "pipelines.yaml:9: include[5]: ../secrets.yaml: a pack is a relative .yaml path "
        "without '..'",
        "mine.yaml:10: rules[1].aggregate: 'avgg' is not one of avg, min, max, sum, count, "
        "last, rate, p50, p90, p95, p99",
        "mine.yaml:11: rules[1].condition: '> ${params.limt}' is not a condition such as "
        "'> 90' or 'auto(p99.9)' (operators: >, >=, <, <=, ==, !=)",
    ]
