"""`alertstream correlate group`: one line out per line in, the worker's lifecycle and
correlator on event time, rules from --pipelines, bad lines listed with exit 2."""

from __future__ import annotations

import json

from app.cli import main

PIPELINES = """
route: {receiver: ops}
receivers: [{name: ops}]
correlation:
  rules:
    - name: outage
      correlate_by: [cluster]
      window: 1m
"""


def alert(t: float, name: str, cluster: str, **extra: object) -> dict:
    return {"startsAt": t, "labels": {"alertname": name, "cluster": cluster}, **extra}


def run(tmp_path, lines: list[dict], *extra: str) -> list[dict]:  # type: ignore[no-untyped-def]
    src, out = tmp_path / "alerts.jsonl", tmp_path / "incidents.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert main(["correlate", "group", "--alerts", str(src), "--out", str(out), *extra]) == 0
    return [json.loads(x) for x in out.read_text().splitlines()]


def test_group_by_rules_in_order_with_how_each_joined(tmp_path):
    (tmp_path / "p.yaml").write_text(PIPELINES)
    got = run(
        tmp_path,
        [
            alert(1000, "DbDown", "eu"),
            alert(1010, "ApiErrors", "eu"),
            alert(1011, "DiskFull", "us"),
            alert(1010, "ApiErrors", "eu"),  # re-sent: nothing changes
            alert(1020, "ApiErrors", "eu", status="resolved", endsAt=1030),
            alert(1040, "ApiErrors", "eu"),  # fires again, in the window: rejoins
            alert(1200, "CacheDown", "eu"),  # past the window of the incident's last alert
        ],
        "--pipelines",
        str(tmp_path / "p.yaml"),
    )
    assert len(got) == 7
    db, api, disk, again, resolved, refired, late = got
    assert db["how"] == "first" and api["how"] == "outage"
    assert api["incident"] == db["incident"] == again["incident"] == resolved["incident"]
    assert refired["incident"] == db["incident"]
    assert disk["incident"] != db["incident"]
    assert late["incident"] not in (db["incident"], disk["incident"])


def test_defaults_apply_without_pipelines(tmp_path):
    got = run(tmp_path, [alert(1, "A", "eu"), alert(2, "B", "eu")])
    assert [g["how"] for g in got] == ["first", "first"]  # nothing learned yet, no rules


def test_bad_lines_exit_2_listing_each(tmp_path, capsys):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"labels": {"alertname": "A"}}\n[1]\n{"startsAt": "x", "labels": {}}\n')
    code = main(["correlate", "group", "--alerts", str(src), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert "bad.jsonl:1: startsAt: required" in err
    assert "bad.jsonl:2: expected a JSON object" in err
    assert "bad.jsonl:3:" in err
