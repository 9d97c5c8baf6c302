"""Analytics windows across a kill -9: nothing lost, nothing counted twice.

A real worker with an ``analytics:`` section is sent 200 alerts, 60 of them
resolved at once, and killed -9 while its analytics agent is part way through their
history (some counted, not all). After the restart on the same data dir, and
acknowledgements (by fingerprint, as Slack's buttons send them), the worker's windows
and SLA report must equal a replay of the whole ``history`` topic through the pure
model: records read before the kill and again after it are not counted twice, and
none is lost. (The alert path itself reads its input again from the committed offset
after a kill -9, so the topic may hold an alert's firing and resolve twice: that is
what happened, and the windows count what the topic says.) The tenant's SLA target
comes from its own file (``tenant_files``), not pipelines.yaml's.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import orjson

from app.broker import declare_topics
from app.cli import main
from app.client import get_alerts_system
from models.alerting.fingerprint import fingerprint
from models.analytics import sla
from models.analytics.spec import AnalyticsSpec, SlaTarget
from models.analytics.tracker import episodes
from models.analytics.windows import Stats
from models.wire import encode_chunks
from tests.conftest import eventually
from tests.models.analytics.synthetic import DictStore

N, RESOLVED, ACKED = 200, 60, 20
ROUTE = """
route:
  receiver: hook
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs:
      - url: ${HOOK}
"""
PIPELINES = f"""{ROUTE}
tenant_files: {{acme: acme.yaml}}
analytics:
  sla:
    - {{name: all, acknowledge_within: 1m}}
"""
ACME = f"""{ROUTE}
analytics:
  sla:
    - {{name: acme, acknowledge_within: 1h}}  # the tenant's own, instead of the file's
"""
COMPARED = ("fired", "resolved", "acknowledged", "acted", "flaps")


def labels(i: int, rule: str = "") -> dict[str, str]:
    return {"alertname": rule or f"Rule{i % 3}", "instance": f"h{i}", "tenant": "acme"}


async def totals(url: str, by: str = "tenant") -> list[dict]:
    query = f"tenant=acme&by={by}&from=0&to={time.time() + 3600}"
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{url}/api/v1/analytics?{query}", timeout=aiohttp.ClientTimeout(10)) as r,
        ):
            return (await r.json())["data"]["rows"]
    except (aiohttp.ClientError, TimeoutError):
        return []


async def tenant_row(url: str) -> dict:
    rows = await totals(url)
    return rows[0] if rows else {}


def read_history(broker: str, topic: str) -> list[dict]:
    """Every item on the topic, read up to its end offsets (no waiting for a count)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": broker.removeprefix("kafka://"), "group.id": "analytics-e2e"}
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in parts}  # fmt: skip
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        items: list = []
        seen = {p: 0 for p in parts}
        deadline = time.monotonic() + 20
        while any(seen[p] < ends[p] for p in parts) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                seen[msg.partition()] = msg.offset() + 1
                items += orjson.loads(msg.value())
        return items
    finally:
        consumer.close()


def replay(history: list[dict]) -> tuple[DictStore, dict]:
    """The whole topic through the pure model: the counts the worker must have."""
    store = DictStore()
    store.feed("acme", history, AnalyticsSpec())
    whole = Stats()
    for key, wire in store.scan("w/h/"):
        if key.endswith("/tenant/"):
            whole.merge(Stats.from_wire(wire))
    return store, whole.report()


def same(worker: dict, truth: dict) -> bool:
    if any(worker.get(k) != truth[k] for k in COMPARED):
        return False
    for k in ("time_to_acknowledge", "time_to_resolve"):
        w, t = worker[k], truth[k]
        if (w["count"], w["p50"], w["p90"], w["p99"]) != (t["count"], t["p50"], t["p90"], t["p99"]):
            return False
    return True


async def test_windows_survive_kill_9_without_loss_or_double_count(
    make_worker, receiver, broker, tmp_path
):
    (tmp_path / "acme.yaml").write_text(ACME)
    worker = make_worker(PIPELINES, {"HOOK": receiver.url, "ALERTSTREAM_TICK": "0.05"})
    # the alerts topic declared as the worker will (2 partitions), so the alerts can be
    # sent while it starts: it reads them as soon as it is up
    declare_topics(broker, [worker.topic("alerts")], 2)
    worker.start()
    client = get_alerts_system({"broker": broker, "topic_prefix": worker.namespace + "."})

    def send(items: list) -> None:
        for record in encode_chunks(items, 16 * 1024):
            client.producer.produce(worker.topic("alerts"), record, b"acme")
        assert client.producer.flush(30) == 0

    send([{"labels": labels(i), "ends_at": time.time() + 3600} for i in range(N)])
    send([{"labels": labels(i), "ends_at": time.time()} for i in range(RESOLVED)])
    await worker.ready()

    async def some_counted() -> bool:
        return (await tenant_row(worker.url)).get("fired", 0) > 0

    assert await eventually(some_counted, timeout=60, every=0.01), worker.log()
    worker.kill()  # at the first count it shows: part way through the history
    worker.start()  # at once, as the alert path's kill tests do
    await worker.ready()

    async def counted() -> bool:
        row = await tenant_row(worker.url)
        return row.get("fired", 0) >= N and row.get("resolved", 0) >= RESOLVED

    assert await eventually(counted, timeout=60), (await tenant_row(worker.url), worker.log())
    acks = [{"action": "ack", "tenant": "acme", "fingerprint": fingerprint(labels(i)),
             "user": "tester"} for i in range(RESOLVED, RESOLVED + ACKED)]  # fmt: skip
    client.producer.produce(worker.topic("commands"), orjson.dumps(acks), b"acme")
    assert client.producer.flush(30) == 0
    send([{"labels": labels(N, "Marker"), "ends_at": time.time() + 3600}])  # after the rest

    seen: list = []

    async def matches_replay() -> tuple | None:
        """The whole history, acks and marker included, replayed equals the worker's."""
        history = await asyncio.to_thread(read_history, broker, worker.topic("history"))
        marked = any(e.get("labels", {}).get("alertname") == "Marker" for e in history)
        store, truth = replay(history)
        if not marked or truth["acknowledged"] < ACKED:
            return None
        row = await tenant_row(worker.url)
        seen[:] = [row, truth, len(history)]
        settled = row and same(row, truth) and row["sent"] > 0  # receipts are counted too
        return (history, store, truth, row) if settled else None

    found = await eventually(matches_replay, timeout=60, every=0.3)
    assert found, seen
    history, store, truth, row = found
    firing = {e["fingerprint"] for e in history if e.get("status") == "firing"}
    rules = {r["rule"]: r for r in await totals(worker.url, "rule")}
    assert rules["Marker"]["fired"] == 1  # sent after the restart, counted once
    assert len(firing) == N + 1 and truth["acknowledged"] == ACKED  # every alert is there
    assert 0 < row["sent"] <= len(receiver.requests) and row["failed"] == 0
    assert row["interruptions_in_hours"] + row["interruptions_out_of_hours"] > 0

    # the SLA report through the CLI, against the same replay at the report's time
    out = tmp_path / "sla.json"
    period = time.strftime("%Y-%m", time.gmtime())
    argv = ["report", "sla", "--tenant", "acme", "--period", period, "--url", worker.url]
    assert await asyncio.to_thread(main, [*argv, "-o", str(out)]) == 0
    got = json.loads(out.read_text())
    start, end = sla.period_range(period)
    assert [t["target"] for t in got["targets"]] == ["acme"]  # the tenant file's target
    target = SlaTarget("acme", acknowledge_within=3600)
    want = sla.measure(target, episodes(store.scan, "acme", start, end), got["generated_at"])
    ack = got["targets"][0]["acknowledge"]
    assert (ack["met"], ack["breached"], ack["pending"]) == (
        want["acknowledge"]["met"],
        want["acknowledge"]["breached"],
        want["acknowledge"]["pending"],
    )
    assert ack["met"] >= RESOLVED + ACKED  # resolved or acknowledged within the hour
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{worker.url}/api/v1/analytics?by=nope&from=x") as r:
            assert r.status == 400
            assert len((await r.json())["errors"]) == 2
        async with http.get(f"{worker.url}/api/v1/recommendations?tenant=acme") as r:
            assert r.status == 200 and isinstance((await r.json())["data"], list)
    worker.kill()  # no graceful stop to wait for: its state was checked
