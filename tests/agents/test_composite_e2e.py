"""A composite rule on the broker: CPU high and latency high for the same service, CPU
with hysteresis; its priority routes it (P1 to the hook, everything else nowhere)."""

from __future__ import annotations

import asyncio
import time

import orjson

from app.client import get_alerts_system
from tests.conftest import eventually, read_topic

PIPELINES = """
rules:
  - alert: HighCpu
    metric: cpu
    window: 5s
    grace: 0s
    condition: "> 90"
    clear_threshold: 80
  - alert: Overloaded
    kind: composite
    join_on: [service]
    all:
      - rule: HighCpu
      - {metric: latency, window: 5s, grace: 0s, condition: "> 0.5"}
    severity: critical
priority:
  adjust: [{matchers: ['service="db"'], by: 1}]
route:
  receiver: nowhere
  group_by: [alertname, service]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['priority="P1"']
      receiver: hook
receivers:
  - name: nowhere
  - name: hook
    webhook_configs:
      - url: ${HOOK}
"""


def step(t: float, cpu: dict[str, float], latency: dict[str, float]) -> list[dict]:
    """One window of samples, and a sample past its end that closes it (a window of 5 s:
    a rule's firing alert stays valid 4 windows, longer than a step takes here)."""
    out = [
        {
            "tenant": "acme",
            "name": name,
            "labels": {"service": svc, "host": "h1"},
            "value": v,
            "ts": t,
        }
        for name, values in (("cpu", cpu), ("latency", latency))
        for svc, v in values.items()
    ]
    return [*out, {"tenant": "acme", "name": "tick", "labels": {}, "value": 0, "ts": t + 5.5}]


async def test_composite_fires_only_where_both_hold_and_hysteresis_holds_it(
    make_worker, receiver, broker
):
    worker = make_worker(PIPELINES, {"HOOK": receiver.url})
    worker.start()
    await worker.ready()
    client = get_alerts_system({"broker": broker, "topic_prefix": worker.namespace + "."})
    t = float(int(time.time()) - 300)

    def overloaded() -> list[dict]:
        items = read_topic(broker, worker.topic("alerts"), 10**6, timeout=1)
        return [a for a in items if a["labels"]["alertname"] == "Overloaded"]

    # both high for api; only CPU high for db (and db would be P2 anyway)
    assert client.send_metrics(step(t, {"api": 95, "db": 99}, {"api": 0.9, "db": 0.1}))
    [first] = await receiver.wait_for(1, timeout=40)
    assert first["status"] == "firing", worker.log()
    [alert] = first["alerts"]
    assert alert["labels"] == {
        "alertname": "Overloaded",
        "service": "api",
        "severity": "critical",
        "tenant": "acme",
        "priority": "P1",
    }
    # CPU drops to 85: between the thresholds, HighCpu (and so Overloaded) holds
    assert client.send_metrics(step(t + 5, {"api": 85}, {"api": 0.9}))
    seen = await eventually(lambda: (got := overloaded())[1:] and got, timeout=30)
    assert [a["status"] for a in seen] == ["firing", "firing"], worker.log()
    # below the clear threshold: both resolve
    assert client.send_metrics(step(t + 10, {"api": 70}, {"api": 0.9}))
    got = await receiver.wait_for(2, timeout=40)
    assert [p["status"] for p in got] == ["firing", "resolved"], worker.log()
    records = overloaded()
    assert [a["status"] for a in records] == ["firing", "firing", "resolved"]
    assert {a["labels"]["service"] for a in records} == {"api"}
    # the inline latency condition's own alerts never left the metrics agent
    names = {a["labels"]["alertname"] for a in read_topic(broker, worker.topic("alerts"), 10**6, 1)}
    assert names == {"HighCpu", "Overloaded"}


EVENT_PIPELINES = """
rules:
  - alert: HighCpu
    metric: cpu
    window: 5s
    grace: 0s
    condition: "> 90"
  - alert: AttackUnderLoad
    kind: composite
    join_on: [service]
    all: [{rule: HighCpu}, {rule: LoginStorm}]
event_rules:
  - alert: LoginStorm
    kind: count
    match: {type: login_failed}
    group_by: [service]
    window: 5m
    condition: ">= 3"
route:
  receiver: nowhere
  group_by: [alertname, service]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['alertname="AttackUnderLoad"']
      receiver: hook
receivers:
  - name: nowhere
  - name: hook
    webhook_configs:
      - url: ${HOOK}
"""


async def test_a_composite_joins_a_metric_rule_and_an_event_rule(make_worker, receiver, broker):
    worker = make_worker(EVENT_PIPELINES, {"HOOK": receiver.url})
    worker.start()
    await worker.ready()
    client = get_alerts_system({"broker": broker, "topic_prefix": worker.namespace + "."})
    now = time.time()
    # three failed logins against api and against db; CPU high on api and on web only
    logins = [
        {"type": "login_failed", "labels": {"service": svc, "user": f"u{i}"}, "ts": now}
        for svc in ("api", "db")
        for i in range(3)
    ]
    client.producer.produce(worker.topic("events"), orjson.dumps(logins), b"acme")
    assert client.producer.flush(10) == 0
    t = float(int(now) - 300)
    assert client.send_metrics(step(t, {"api": 95, "web": 97, "db": 20}, {}))
    [page] = await receiver.wait_for(1, timeout=40)
    assert page["status"] == "firing", worker.log()
    assert [a["labels"]["service"] for a in page["alerts"]] == ["api"]
    # web has load without the logins, db the logins without the load: neither fires
    await asyncio.sleep(3)
    names = {
        (a["labels"]["alertname"], a["labels"].get("service"))
        for a in read_topic(broker, worker.topic("alerts"), 10**6, timeout=2)
    }
    assert ("AttackUnderLoad", "api") in names
    assert not {("AttackUnderLoad", "web"), ("AttackUnderLoad", "db")} & names, names
    assert {("LoginStorm", "api"), ("LoginStorm", "db"), ("HighCpu", "web")} <= names
    assert len(receiver.requests) == 1
