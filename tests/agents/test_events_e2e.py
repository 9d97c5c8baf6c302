"""Event rules on the broker: a real worker reads `events` and writes rule alerts to
`alerts`, which reach a webhook; bad events go to `dlq`; windows survive kill -9."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
from confluent_kafka import Producer

from tests.conftest import eventually, read_topic

PIPELINES = """
event_rules:
  - alert: BruteForce
    kind: count
    match: {type: login_failed, matchers: ['service=~"auth|sso"']}
    group_by: [user]
    window: 5m
    condition: ">= 5"
    annotations:
      summary: "{{ value }} failed logins for {{ labels.user }}"
  - alert: PrivilegeThenExport
    kind: sequence
    steps: [{type: privilege_change}, {type: data_export, fields: {rows: {gt: 1000}}}]
    group_by: [user]
    within: 10m
  - alert: HeartbeatMissing
    kind: absence
    match: {type: heartbeat}
    group_by: [service]
    for: 2s
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs:
      - url: ${HOOK}
"""


def send(broker: str, topic: str, events: list, raw: bytes | None = None) -> None:
    producer = Producer(
        {"bootstrap.servers": broker.removeprefix("kafka://"), "partitioner": "murmur2_random"}
    )
    producer.produce(topic, raw or orjson.dumps(events), b"acme")
    assert producer.flush(10) == 0


def login(user: str, ts: float) -> dict:
    return {"type": "login_failed", "labels": {"user": user, "service": "sso"}, "ts": ts}


def rule_alerts(items: list) -> list[tuple[str, str, str]]:
    return [
        (a["labels"]["alertname"], a["status"], a["labels"].get("user") or a["labels"]["service"])
        for a in items
    ]


async def test_count_sequence_and_absence_rules_fire_as_written(make_worker, receiver, broker):
    worker = make_worker(PIPELINES, {"HOOK": receiver.url})
    worker.start()
    await worker.ready()
    events, alerts = worker.topic("events"), worker.topic("alerts")
    now = time.time()
    send(
        broker,
        events,
        [login("bob", now + i * 0.1) for i in range(5)]
        + [login("carol", now + i * 0.1) for i in range(4)]
        + [login("dave", now + i * 0.1) for i in range(3)]
        + [login(u, now + i * 0.1) for i in range(3) for u in ("ann", "eve")]
        + [
            {"type": "heartbeat", "labels": {"service": "api"}, "ts": now},
            # mallory: export first, then the privilege change: out of order
            {"type": "data_export", "labels": {"user": "mallory"}, "fields": {"rows": 5000}},
            {"type": "privilege_change", "labels": {"user": "mallory"}},
            # trent: in order
            {"type": "privilege_change", "labels": {"user": "trent"}},
            {"type": "data_export", "labels": {"user": "trent"}, "fields": {"rows": 5000}},
        ],
    )
    send(broker, events, [], raw=b'[{"type": "login_failed", "ts": "soon"}, {"labels": {}}]')
    # the heartbeat stops: its absence fires ~2 s after its timestamp once the tenant is quiet
    got = await asyncio.to_thread(read_topic, broker, alerts, 3, 60)
    assert sorted(rule_alerts(got)) == [
        ("BruteForce", "firing", "bob"),
        ("HeartbeatMissing", "firing", "api"),
        ("PrivilegeThenExport", "firing", "trent"),
    ], worker.log()
    assert rule_alerts(got)[-1] == ("HeartbeatMissing", "firing", "api")  # after the quiet
    brute = next(a for a in got if a["labels"]["alertname"] == "BruteForce")
    assert brute["annotations"]["summary"] == "5 failed logins for bob"
    assert brute["labels"]["tenant"] == "acme" and brute["labels"]["severity"] == "warning"

    # the alerts take the alert path: the webhook is told of the missing heartbeat
    def notified() -> set[tuple[str, str]]:
        return {
            (a["labels"]["alertname"], a["status"]) for p in receiver.requests for a in p["alerts"]
        }

    want = {("BruteForce", "firing"), ("HeartbeatMissing", "firing")}
    assert await eventually(lambda: want <= notified(), timeout=30), notified()

    # the heartbeat returns: resolved, and it is the last alert (nothing else fired since)
    send(broker, events, [{"type": "heartbeat", "labels": {"service": "api"}}])
    got = await asyncio.to_thread(read_topic, broker, alerts, 4, 30)
    assert rule_alerts(got)[3:] == [("HeartbeatMissing", "resolved", "api")], worker.log()
    assert len(got) == 4
    resolved = ("HeartbeatMissing", "resolved")
    assert await eventually(lambda: resolved in notified(), timeout=30), notified()

    letters = await asyncio.to_thread(read_topic, broker, worker.topic("dlq"), 2, 20)
    assert [(d["source"], d["reason"]) for d in letters] == [
        ("events", "ts: expected epoch seconds"),
        ("events", "type: required, a non-empty string"),
    ]

    # kill -9: dave's 3 failed logins are in the restored window, so 2 more, sent while
    # the worker is down, fire; the first record, if read again, is not counted twice
    # (carol's 4 would then fire); the heartbeat in the backlog is judged at its time
    worker.kill()
    send(
        broker,
        events,
        [login("dave", time.time() + i * 0.1) for i in range(2)]
        + [{"type": "heartbeat", "labels": {"service": "api"}}],
    )
    worker.start()
    await worker.ready()
    # the restarted worker sends its firing alerts again at once (the same alerts: same
    # fingerprint and start), as they may have expired while it was down
    got = await asyncio.to_thread(read_topic, broker, alerts, 7, 30)
    assert sorted(rule_alerts(got[4:])) == [
        ("BruteForce", "firing", "bob"),
        ("BruteForce", "firing", "dave"),
        ("PrivilegeThenExport", "firing", "trent"),
    ], worker.log()
    sent_again = [a for a in got[4:] if a["labels"].get("user") != "dave"]
    assert {(a["fingerprint"], a["starts_at"]) for a in sent_again} == {
        (a["fingerprint"], a["starts_at"]) for a in got[:4] if a["labels"].get("user")
    }
    assert "event rule keys restored" in worker.log_path.read_text()

    # a tenant's own event rules, put at run time, apply to its events only
    own = PIPELINES.split("route:")[1].replace("${HOOK}", receiver.url)
    text = f"""
event_rules:
  - alert: GlobexLogins
    kind: count
    match: {{type: login_failed}}
    group_by: [user]
    window: 1m
    condition: ">= 2"
route:{own}"""
    async with (
        aiohttp.ClientSession() as http,
        http.put(worker.url + "/api/v1/config/globex", data=text) as r,
    ):
        assert r.status == 200 and (await r.json())["data"]["applied"], await r.text()
    # acme runs the default rules: its two logins of x fire nothing, and zed's five,
    # after them in the same record, are the marker that they have been judged
    now = time.time()
    send(broker, events, [login("x", now)] * 2 + [login("zed", now)] * 5)
    producer = Producer({"bootstrap.servers": broker.removeprefix("kafka://")})
    producer.produce(events, orjson.dumps([login("x", now)] * 2), b"globex")
    assert producer.flush(10) == 0
    got = await asyncio.to_thread(read_topic, broker, alerts, 9, 30)
    assert sorted((a["labels"]["tenant"], *rule_alerts([a])[0]) for a in got) == [
        ("acme", "BruteForce", "firing", "bob"),
        ("acme", "BruteForce", "firing", "bob"),
        ("acme", "BruteForce", "firing", "dave"),
        ("acme", "BruteForce", "firing", "zed"),
        ("acme", "HeartbeatMissing", "firing", "api"),
        ("acme", "HeartbeatMissing", "resolved", "api"),
        ("acme", "PrivilegeThenExport", "firing", "trent"),
        ("acme", "PrivilegeThenExport", "firing", "trent"),
        ("globex", "GlobexLogins", "firing", "x"),
    ], worker.log()
