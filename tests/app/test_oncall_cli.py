"""`alertstream oncall who` over the worked example, and `alertstream import-oncall` over
an export in Grafana OnCall's public API shapes: what it prints loads as pipelines.yaml
and puts the same people on call as OnCall's own rules say."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from app.cli import main
from app.config.loader import load_text

HERE = Path(__file__).resolve().parent
PIPELINES = str(HERE / "oncall_pipelines.yaml")
EXPORT = HERE / "grafana_oncall_export.json"
BERLIN = ZoneInfo("Europe/Berlin")
HEAD = """route: {receiver: web, escalation: db}
receivers: [{name: web, webhook_configs: [{url: "http://127.0.0.1:9/"}]}]
"""


def who(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["oncall", "who", "--pipelines", PIPELINES, "--schedule", "db-primary", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-01-05T09:00:00", "alice"),  # the first handoff, Berlin wall clock
        ("2026-01-12T08:59:00", "alice"),
        ("2026-01-12T09:00:00", "bob"),
        ("2026-01-12T18:00:00", "carol"),  # 12:00 in New York: the evening layer wins
        ("2026-01-12T23:59:00", "carol"),
        ("2026-01-13T00:00:00", "bob"),  # six hours later it ends
        ("2026-01-17T20:00:00", "bob"),  # Saturday: no evening layer
        ("2026-03-09T17:00:00-04:00", "carol"),  # New York on summer time, Berlin not yet
        ("2026-04-01T13:00:00", "alice"),  # an override of bob's override
        ("2026-04-01T20:00:00", "bob"),
        ("1775037600", "alice"),  # epoch seconds: 2026-04-01T10:00Z
    ],
)
def test_who_is_on_call(capsys, at, expected):
    code, out, err = who(capsys, "--at", at)
    assert code == 0, err
    assert out.split("\t")[0] == expected


def test_who_as_json_names_contacts_and_the_end_of_the_stretch(capsys):
    code, out, _ = who(capsys, "--at", "2026-04-01T13:00", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["at"] == "2026-04-01T11:00:00+00:00"
    [alice] = report["on_call"]
    assert alice == {
        "name": "alice",
        "email": "alice@example.com",
        "phone": "+4915112345678",
        "slack_id": "U024BE7LH",
        "time_zone": "Europe/Berlin",
        "until": "2026-04-01T18:00:00+00:00",  # 20:00 in Berlin, bob's override again
    }


def test_who_before_the_first_handoff_is_nobody(capsys):
    code, out, err = who(capsys, "--at", "2026-01-01T00:00:00Z")
    assert (code, out) == (0, "")
    assert "nobody is on call in db-primary" in err


def test_who_errors_exit_2(capsys, tmp_path):
    code, _, err = who(capsys, "--at", "yesterday")
    assert code == 2
    assert "'yesterday' is not a time (now, epoch seconds or ISO 8601)" in err
    code = main(["oncall", "who", "--pipelines", PIPELINES, "--schedule", "nope"])
    assert code == 2
    assert "unknown schedule 'nope' (schedules: db-primary)" in capsys.readouterr().err
    bad = tmp_path / "p.yaml"
    bad.write_text(HEAD + "oncall: {teams: [{name: t, members: [ghost]}]}\n")
    with pytest.raises(SystemExit) as exit_:
        main(["oncall", "who", "--pipelines", str(bad), "--schedule", "s"])
    assert exit_.value.code == 2
    assert 'p.yaml:3: oncall: teams[0] "t": unknown user "ghost"' in capsys.readouterr().err


def imported(capsys) -> tuple[dict, list[str]]:
    assert main(["import-oncall", str(EXPORT)]) == 0
    out, err = capsys.readouterr()
    return yaml.safe_load(out), err.splitlines()


def test_import_converts_users_schedules_and_chains(capsys):
    sections, _ = imported(capsys)
    assert sections["oncall"]["users"][0] == {
        "name": "alex",
        "email": "alex@example.com",
        "slack_id": "UALEXSLACKDJPK",
    }
    [policy] = sections["escalation_policies"]
    assert policy == {
        "name": "db",
        "steps": [
            {"notify": {"schedule": "db-primary"}, "wait": "5m"},
            {"notify": {"users": ["alex", "bob"], "pick": "round_robin"}, "wait": "15m"},
            {"notify": {"users": ["alice"]}, "active_time_intervals": ["db-1800-0900"]},
        ],
        "repeat": 5,
    }
    # what it prints loads, with the route naming the imported policy
    config = load_text(HEAD + yaml.safe_dump(sections), "imported.yaml", {})
    [interval] = [t.build() for t in config.time_intervals]
    assert interval.contains(datetime(2026, 1, 1, 20, tzinfo=UTC).timestamp())
    assert not interval.contains(datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp())


def test_imported_schedule_follows_oncall_rules(capsys):
    sections, _ = imported(capsys)
    config = load_text(HEAD + yaml.safe_dump(sections), "imported.yaml", {})
    s = config.oncall.directory.schedule("db-primary")

    def on(*args: int, tz: ZoneInfo = BERLIN) -> list[str]:
        return s.on_call(datetime(*args, tzinfo=tz))

    # rolling_users [[alex], [bob]] weekly from Monday 09:00, starting at index 1: bob first
    assert on(2026, 1, 5, 8) == []
    assert on(2026, 1, 5, 9) == ["bob"]
    assert on(2026, 1, 12, 9) == ["alex"]
    assert on(2026, 1, 19, 8, 59) == ["alex"]
    # recurrent_event, level 1, weekdays 09:00-17:00 in New York
    ny = ZoneInfo("America/New_York")
    assert on(2026, 1, 6, 9, tz=ny) == ["alice"]
    assert on(2026, 1, 6, 17, tz=ny) == ["bob"]
    assert on(2026, 1, 10, 12, tz=ny) == ["bob"]  # a Saturday
    # single_event, level 2: three hours from 20:00 Berlin on 10 March
    assert on(2026, 3, 10, 22) == ["alice"]
    assert on(2026, 3, 10, 23) == ["alex"]
    # the override: bob for a day from Saturday 14 March 09:00 (alex's week)
    assert on(2026, 3, 14, 12) == ["bob"]
    assert on(2026, 3, 15, 9) == ["alex"]


def test_import_reports_what_it_cannot_convert(capsys):
    _, warnings = imported(capsys)
    prefix = f"{EXPORT}: not converted: "
    assert all(w.startswith(prefix) for w in warnings)
    reasons = [w.removeprefix(prefix) for w in warnings]
    assert reasons == [
        "schedule Demo schedule iCal: an iCal-URL schedule"
        " (https://example.com/meow_calendar.ics); its events live in that calendar:"
        " write its rotations as layers",
        "escalation chain db, step 5 (notify_persons): `important`"
        " (we have no personal notification rules)",
        "escalation chain db, step 5 (notify_persons): user UNKNOWNUSER01 is not among the"
        " exported users; left out",
        "escalation chain db, step 6 (notify_user_group): Slack user groups: OnCall's API"
        " does not list their members",
        "escalation chain slack-only, step 0 (notify_whole_channel): Slack channels: add a"
        " slack receiver and a `notify: {receivers: [...]}` step",
        "escalation chain slack-only: no step could be converted; left out",
        "teams: OnCall's API does not list their members",
        "user_groups: OnCall's API does not list their members",
    ]


def test_import_errors_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert main(["import-oncall", str(bad)]) == 2
    assert "expected a JSON object" in capsys.readouterr().err
    bad.write_text('{"users": "alex"}')
    assert main(["import-oncall", str(bad)]) == 2
    assert "users: expected a list of objects" in capsys.readouterr().err
    assert main(["import-oncall", str(tmp_path / "missing.json")]) == 2
