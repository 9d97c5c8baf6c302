"""The ``oncall:`` section: a worked file builds the directory; every mistake is named
with file, line and key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.config.loader import ConfigError, load_text
from app.config.oncall import check_oncall_names

FIXTURE = Path(__file__).resolve().parents[1] / "oncall_pipelines.yaml"
HEAD = """route: {receiver: web}
receivers: [{name: web, webhook_configs: [{url: "http://127.0.0.1:9/"}]}]
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(HEAD + text, "p.yaml", {})
    return info.value.errors


def test_the_worked_example_builds_people_teams_and_schedules():
    config = load_text(FIXTURE.read_text(), "oncall_pipelines.yaml", {})
    d = config.oncall.directory
    assert d is config.oncall.directory  # built once
    alice = d.user("alice")
    assert (alice.email, alice.phone, alice.slack_id, alice.tz) == (
        "alice@example.com",
        "+4915112345678",
        "U024BE7LH",
        "Europe/Berlin",
    )
    assert alice.has_skills(["Postgres"]) and not alice.has_skills(["network"])
    # working hours are read in her time zone: 08:30 UTC is 09:30 in Berlin in winter
    assert alice.working(datetime(2026, 1, 7, 8, 30, tzinfo=UTC))
    assert not alice.working(datetime(2026, 1, 7, 16, 30, tzinfo=UTC))
    assert not alice.working(datetime(2026, 1, 10, 10, tzinfo=UTC))  # a Saturday
    assert d.team("dba").members == ("alice", "bob")
    primary = d.schedule("db-primary")
    assert [layer.priority for layer in primary.layers] == [0, 1]  # position by default
    assert check_oncall_names(config.oncall, ["alice", "zed"], ["dba"], ["nope"]) == [
        'undefined user "zed"',
        'undefined schedule "nope"',
    ]


def test_mistakes_name_file_line_and_key():
    errors = errors_of(
        """oncall:
  users:
    - {name: a, time_zone: Europe/Berln, phone: "0151"}
  schedules:
    - name: s
      layers:
        - {start: 2026-01-05T09:00:00, handoff: FREQ=DAILIES, users: [a]}
        - {start: 2026-01-05T09:00:00, active: daily, users: [a]}
"""
    )
    assert errors == [
        "p.yaml:5: oncall.users[0].phone: '0151' is not a phone number in E.164 form"
        " (+4915112345678)",
        "p.yaml:5: oncall.users[0].time_zone: unknown time zone Europe/Berln",
        "p.yaml:9: oncall.schedules[0].layers[0].handoff: 'FREQ=DAILIES' is not a valid RRULE:"
        " invalid 'FREQ': DAILIES",
        "p.yaml:10: oncall.schedules[0].layers[1]: `active` needs a `duration`"
        " (how long each active window lasts)",
    ]


REFERENCES = """oncall:
  users: [{name: a}, {name: a}, {name: b}]
  teams: [{name: t, members: [a, zed]}]
  schedules:
    - name: s
      layers: [{start: 2026-01-05T09:00:00, users: [a, [b, yan]]}]
      overrides:
        - {user: xo, start: 2026-01-06T09:00:00, end: 2026-01-07T09:00:00}
"""


def test_references_and_duplicates_are_checked_together():
    [error] = errors_of(REFERENCES)
    assert error == (
        'p.yaml:3: oncall: user "a" is not unique; teams[0] "t": unknown user "zed"; '
        'schedules[0].layers[0]: unknown user "yan"; schedules[0].overrides[0]: unknown user "xo"'
    )
    both = "        - {user: a, users: [b], start: 2026-01-06T09:00:00, end: 2026-01-07T09:00:00}\n"
    [error] = errors_of(REFERENCES + both)
    assert error.startswith("p.yaml:11: oncall.schedules[0].overrides[1]: name either")
