"""Backtest on a recorded history: a real worker runs the live rule over samples on the
broker; backtesting that rule reproduces exactly the alerts it produced, and a changed
threshold shows the intervals that differ.  CLI and HTTP API over the same history."""

from __future__ import annotations

import time
from collections import Counter

import aiohttp
import orjson
import pytest
from confluent_kafka import Producer
from conftest import read_topic

from app.backtest import RuleError, parse_request, parse_rule, render_table
from app.cli import main
from app.config.rules import ThresholdRule

RULE = {
    "alert": "HighCpu",
    "metric": "cpu",
    "window": "5s",
    "grace": "1s",
    "for": "10s",
    "condition": "> 80",
}
LOGINS = {
    "alert": "LoginFailures",
    "kind": "count",
    "match": {"type": "login_failed"},
    "group_by": ["user"],
    "window": "1m",
    "condition": ">= 3",
}
PIPELINES = f"""
rules: [{orjson.dumps(RULE).decode()}]
event_rules: [{orjson.dumps(LOGINS).decode()}]
route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
receivers: [{{name: hook, webhook_configs: [{{url: "${{HOOK}}"}}]}}]
"""


def value(host: str, i: int) -> float:
    """a: high then medium then low; b: medium, high for the last 30 s; c: medium, low."""
    if host == "a":
        return 90.0 if i < 30 else 70.0 if i < 60 else 50.0
    if host == "b":
        return 70.0 if i < 90 else 95.0
    return 75.0 if i < 60 else 10.0


def record(broker: str, topic: str, base: float) -> None:
    """120 s of history, a record per second holding one sample per host."""
    producer = Producer({"bootstrap.servers": broker.removeprefix("kafka://")})
    for i in range(120):
        batch = [
            {"name": "cpu", "labels": {"host": h}, "value": value(h, i), "ts": base + i}
            for h in "abc"
        ]
        # stamped as a record produced as it was measured
        producer.produce(topic, orjson.dumps(batch), b"acme", timestamp=int((base + i) * 1000))
    assert producer.flush(30) == 0


def record_events(broker: str, topic: str, base: float) -> None:
    """ada fails to log in 3 times in 20 s, bob twice, then a minute of other events."""
    producer = Producer({"bootstrap.servers": broker.removeprefix("kafka://")})
    logins = [(0, "ada"), (5, "bob"), (10, "ada"), (20, "ada"), (40, "bob")]
    history = [(t, "login_failed", u) for t, u in logins] + [
        (t, "login_ok", "eve") for t in range(50, 130, 10)
    ]
    for t, kind, user in history:
        event = {"type": kind, "labels": {"user": user}, "ts": base + t}
        producer.produce(topic, orjson.dumps(event), b"acme", timestamp=int((base + t) * 1000))
    assert producer.flush(30) == 0


def intervals(run: dict) -> list[tuple[str, float, float | None, int]]:
    return sorted(
        (i["labels"]["host"], i["starts_at"], i["resolved_at"], i["firings"]) for i in run["fired"]
    )


async def test_backtest_reproduces_the_live_rule_and_shows_a_changed_threshold(
    make_worker, receiver, broker, tmp_path, monkeypatch, capsys
):
    worker = make_worker(PIPELINES, {"HOOK": receiver.url})
    worker.start()
    await worker.ready()
    base = float(int(time.time()) // 10 * 10 - 600)  # ten minutes ago, on a window start
    record(broker, worker.topic("metrics"), base)
    record_events(broker, worker.topic("events"), base)
    for var in ("ALERTSTREAM_BROKER", "ALERTSTREAM_PIPELINES", "ALERTSTREAM_TOPIC_PREFIX", "HOOK"):
        monkeypatch.setenv(var, worker.env[var])
    window = ["--from", str(base), "--to", str(base + 130), "--tenant", "acme", "--json"]

    assert main(["backtest", "--rule", "HighCpu", *window]) == 0
    live = orjson.loads(capsys.readouterr().out)
    # known answer: a fires from the start (for: 10s holds at the end of its 2nd window)
    # until its first window below 80; b from 90 s and still firing when history ends
    assert intervals(live["candidate"]) == [("a", base, base + 36, 5), ("b", base + 90, None, 5)]
    assert live["read"]["samples"] == 360 and live["diff"]["unchanged"] == 2

    # an event rule over the `events` topic: ada's third failure fires, bob's two do not
    assert main(["backtest", "--rule", "LoginFailures", *window]) == 0
    logins = orjson.loads(capsys.readouterr().out)["candidate"]
    [fired] = logins["fired"]
    assert (fired["labels"]["user"], fired["starts_at"]) == ("ada", base + 20)
    assert fired["resolved_at"] is not None and logins["alerts"] == 2

    # what the worker produced: the same alerts, to the firing evaluation
    want = live["candidate"]["alerts"] + logins["alerts"]
    produced = read_topic(broker, worker.topic("alerts"), want=want, timeout=60)
    assert len(produced) == want == 13
    assert Counter(
        (a["labels"].get("host") or a["labels"]["user"], a["status"], a["starts_at"])
        for a in produced
    ) == Counter(
        {
            ("a", "firing", base): 5,
            ("a", "resolved", base): 1,
            ("b", "firing", base + 90): 5,
            ("ada", "firing", base + 20): 1,
            ("ada", "resolved", base + 20): 1,
        }
    )

    changed = tmp_path / "rule.yaml"
    changed.write_text(orjson.dumps({"rules": [{**RULE, "condition": "> 60"}]}).decode())
    assert main(["backtest", "--rule", str(changed), *window]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert intervals(report["current"]) == intervals(live["candidate"])
    diff = report["diff"]
    assert diff["unchanged"] == 0 and diff["removed"] == []
    assert [(i["labels"]["host"], i["starts_at"], i["resolved_at"]) for i in diff["added"]] == [
        ("c", base, base + 66)
    ]
    assert sorted(
        (
            c["candidate"]["labels"]["host"],
            c["candidate"]["starts_at"],
            c["candidate"]["resolved_at"],
        )
        for c in diff["changed"]
    ) == [("a", base, base + 66), ("b", base, None)]
    assert "1 added, 0 removed, 2 changed, 0 unchanged" in render_table(report)

    # the same from the HTTP API
    body = {"rule": {**RULE, "condition": "> 60"}, "from": base, "to": base + 130, "tenant": "acme"}
    async with aiohttp.ClientSession() as http:
        async with http.post(worker.url + "/api/v1/backtest", json=body) as resp:
            assert resp.status == 200, await resp.text()
            data = (await resp.json())["data"]
        assert data["diff"] == diff
        bad = {"rule": {"alert": "X", "window": "soon"}, "from": "then", "extra": 1}
        async with http.post(worker.url + "/api/v1/backtest", json=bad) as resp:
            assert resp.status == 422
            errors = (await resp.json())["errors"]
    assert any(e.startswith("rule: metric:") for e in errors)
    assert any(e.startswith("rule: window:") for e in errors)
    assert any(e.startswith("from:") for e in errors)
    assert "extra: unknown key" in errors


def test_a_rule_is_checked_by_the_worker_schema_and_every_reason_named():
    with pytest.raises(RuleError) as exc:
        parse_rule("alert: X\nmetric: cpu\ncondition: '>> 9'\nwindo: 5s\n", "new.yaml")
    assert any("new.yaml: condition:" in e for e in exc.value.errors)
    assert "new.yaml: windo: unknown key" in exc.value.errors
    with pytest.raises(RuleError, match="exactly one rule"):
        parse_rule({"rules": [RULE, RULE]})
    assert parse_rule(RULE) == ThresholdRule.model_validate(RULE).to_spec()
    dead = {"alert": "Down", "kind": "absence", "match": {"type": "heartbeat"}, "for": "2m"}
    assert parse_rule({"event_rules": [dead]}).for_ == 120.0
    with pytest.raises(RuleError, match="rules: expected exactly one rule"):
        parse_rule({"event_rules": [dead], "rules": [RULE]})


def test_a_range_is_checked_and_relative_times_are_ago():
    _, start, end, tenant = parse_request({"rule": RULE, "from": "2h", "to": "1h"}, now=10_000.0)
    assert (start, end, tenant) == (10_000.0 - 7200, 10_000.0 - 3600, None)
    with pytest.raises(RuleError) as exc:
        parse_request({"rule": RULE, "from": 50, "to": 40, "tenant": 3}, now=100.0)
    assert exc.value.errors == ["from: must be before to", "tenant: expected a string"]


def test_an_unknown_rule_and_an_unreachable_broker_are_named(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ALERTSTREAM_BROKER", "kafka://127.0.0.1:9")
    monkeypatch.setenv("ALERTSTREAM_PIPELINES", str(tmp_path / "none.yaml"))
    assert main(["backtest", "--rule", "NoSuchRule", "--from", "1h"]) == 2
    assert "neither a rule file nor a rule" in capsys.readouterr().err
    rule = tmp_path / "rule.yaml"
    rule.write_text(orjson.dumps(RULE).decode())
    assert main(["backtest", "--rule", str(rule), "--from", "1h", "--timeout", "1"]) == 1
    assert "the broker at kafka://127.0.0.1:9 did not answer" in capsys.readouterr().err
