import pytest
import yaml

from app.importer import import_alertmanager

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


def test_import_full():
    sections, warnings = import_alertmanager(AM)
    route = sections["route"]
    assert route["routes"][0]["matchers"] == ['service="db"', 'env=~"prod|staging"']
    assert "match" not in route["routes"][0] and route["routes"][0]["continue"] is True
    mail = sections["receivers"][0]["email_configs"]
    assert mail[0]["from"] == "am@example.org" and mail[0]["smarthost"] == "smtp.example.org:587"
    assert mail[1]["from"] == "custom@example.org"
    assert sections["receivers"][1]["slack_configs"][0]["api_url"].startswith("https://hooks")
    assert sections["receivers"][1]["slack_configs"][0]["send_resolved"] is True
    rules = sections["inhibit_rules"]
    assert len(rules) == 1
    assert rules[0]["source_matchers"] == ['severity="critical"']
    assert rules[0]["target_matchers"] == ['severity=~"warning|info"']
    assert [t["name"] for t in sections["time_intervals"]] == ["biz", "offhours"]
    text = "\n".join(warnings)
    assert "templates" in text
    assert "global.resolve_timeout" in text
    assert "global.victorops_api_key: not imported (no receiver uses it)" in text
    assert "inhibit_rules[1]" in text and "bad matcher format: bad" in text
    assert "mute_time_intervals: merged" in text
    assert "route:" not in text  # references all resolve
    yaml.safe_dump(sections)  # plain data


def test_import_reports_dangling_references_and_errors():
    doc = "route: {receiver: nope}\nreceivers: [{name: a}]\n"
    _, warnings = import_alertmanager(doc)
    assert 'route: undefined receiver "nope" used in route' in warnings
    with pytest.raises(ValueError, match="no routes provided"):
        import_alertmanager("receivers: []")
    with pytest.raises(ValueError, match="invalid YAML"):
        import_alertmanager("route: [")
    with pytest.raises(ValueError, match="group_interval cannot be zero"):
        import_alertmanager("route: {receiver: a, group_interval: 0s}")
