"""`alertstream import-alertmanager`: what it prints loads as pipelines.yaml and routes,
inhibits and mutes as the Alertmanager file it came from."""

import pytest
import yaml

from app.cli import main
from app.config.loader import ConfigError, load_text
from app.importer import import_alertmanager
from models.notify.routing import build_routes

AM = """
global:
  resolve_timeout: 5m
  smtp_from: am@example.org
  smtp_smarthost: smtp.example.org:587
  slack_api_url: https://hooks.slack.com/services/X
  victorops_api_key: unused
  wechat_api_corp_id: x
templates: ['/etc/alertmanager/*.tmpl']
route:
  receiver: team-mail
  group_by: [alertname, cluster]
  routes:
    - match: {service: db}
      match_re: {env: "prod|staging"}
      receiver: db-slack
      continue: true
    - matchers: ['severity="critical"']
      receiver: team-mail
      mute_time_intervals: [offhours]
      active_time_intervals: [biz]
receivers:
  - name: team-mail
    email_configs:
      - to: team@example.org
      - to: other@example.org
        from: custom@example.org
  - name: db-slack
    slack_configs:
      - channel: '#db'
        send_resolved: true
inhibit_rules:
  - source_match: {severity: critical}
    target_match_re: {severity: "warning|info"}
    equal: [cluster]
  - source_matchers: ['a="b"']
    target_matchers: ['bad']
time_intervals:
  - name: biz
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: '09:00', end_time: '17:00'}]
mute_time_intervals:
  - name: offhours
    time_intervals:
      - times: [{start_time: '00:00', end_time: '06:00'}]
"""


def _imported(tmp_path, capsys, text: str):  # type: ignore[no-untyped-def]
    """Run the command on ``text``; (the loaded config, the warning lines)."""
    src = tmp_path / "alertmanager.yml"
    src.write_text(text)
    assert main(["import-alertmanager", str(src)]) == 0
    out, err = capsys.readouterr()
    prefix = f"{src}: not converted: "
    assert all(line.startswith(prefix) for line in err.splitlines()), err
    return load_text(out, "imported.yaml"), [line.removeprefix(prefix) for line in err.splitlines()]


def test_import_full_loads_and_keeps_alertmanager_semantics(tmp_path, capsys):
    config, warnings = _imported(tmp_path, capsys, AM)

    # routing: Alertmanager's answers for this tree (first child continues)
    root = build_routes(config.route)

    def receivers(**labels: str) -> list[str]:
        return [r.receiver for r in root.match(labels)]

    assert receivers(service="db", env="prod", severity="critical") == ["db-slack", "team-mail"]
    assert receivers(service="db", env="dev", severity="critical") == ["team-mail"]
    assert receivers(service="db", env="staging") == ["db-slack"]
    assert receivers(alertname="X") == ["team-mail"]
    critical = config.route.routes[1]
    assert (critical.mute_time_intervals, critical.active_time_intervals) == (["offhours"], ["biz"])
    assert config.route.group_by == ["alertname", "cluster"]

    # receivers, with the global defaults folded in where not set
    by_name = {r.name: r for r in config.receivers}
    assert list(by_name) == ["team-mail", "db-slack"]
    mail = by_name["team-mail"].email_configs
    assert [(m.to, m.from_, m.smarthost) for m in mail] == [
        ("team@example.org", "am@example.org", "smtp.example.org:587"),
        ("other@example.org", "custom@example.org", "smtp.example.org:587"),
    ]
    (slack,) = by_name["db-slack"].slack_configs
    assert slack.api_url is not None
    assert slack.api_url.get_secret_value() == "https://hooks.slack.com/services/X"
    assert (slack.channel, slack.send_resolved) == ("#db", True)

    # inhibition: the valid rule, legacy matchers converted; the bad one skipped
    (rule,) = config.inhibit_rules
    assert [str(m) for m in rule.sources()] == ['severity="critical"']
    assert [str(m) for m in rule.targets()] == ['severity=~"warning|info"']
    assert rule.equal == ["cluster"]

    # time intervals: both spellings merged, each still meaning what it meant
    intervals = {t.name: t for t in config.time_intervals}
    assert list(intervals) == ["biz", "offhours"]
    (biz,) = intervals["biz"].time_intervals
    assert biz.weekdays == ["monday:friday"]
    assert [(t.start_time, t.end_time) for t in biz.times] == [("09:00", "17:00")]

    assert len(warnings) == 6, warnings
    text = "\n".join(warnings)
    assert "templates: Go templates are not imported" in text
    assert "global.resolve_timeout" in text
    assert "global.victorops_api_key: not imported (no receiver uses it)" in text
    assert "global.wechat_api_corp_id: not imported (no receiver uses it)" in text
    assert "inhibit_rules[1]" in text and "bad matcher format: bad" in text
    assert "mute_time_intervals: merged" in text


def test_a_dangling_reference_is_reported_and_the_loader_agrees():
    doc = "route: {receiver: nope}\nreceivers: [{name: a}]\n"
    sections, warnings = import_alertmanager(doc)
    assert warnings == ['route: undefined receiver "nope" used in route']
    with pytest.raises(ConfigError, match='undefined receiver "nope"'):
        load_text(yaml.safe_dump(sections), "imported.yaml")


def test_import_errors():
    with pytest.raises(ValueError, match="no routes provided"):
        import_alertmanager("receivers: []")
    with pytest.raises(ValueError, match="invalid YAML"):
        import_alertmanager("route: [")
    with pytest.raises(ValueError, match="expected a mapping"):
        import_alertmanager("- route")
    with pytest.raises(ValueError, match="group_interval cannot be zero"):
        import_alertmanager("route: {receiver: a, group_interval: 0s}")
