"""GDPR erasure and export, and retention, on the broker with one real worker.

Alice is a user of tenants acme and beta, Bob of acme.  After ``alertstream gdpr erase
--tenant acme --subject user=alice@x.org``: a scan of every topic of the app and of
every RocksDB table finds Alice's address in clear only on the `alerts` input topic
(where the producer wrote it: outside our control, see docs/security.md), no record
of acme's Alice can be opened, and beta's Alice and acme's Bob are intact, readable and
still delivered in clear.  Retention: history beyond ``history_events`` is collected,
topic retention is set on the broker, both reported at /api/v1/status.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource
from rocksdict import AccessType, Options, Rdict

from app.cli import main as cli
from app.settings import Settings
from models.protection.keyring import KeyUnavailable
from tables.keys import open_protection
from tests.conftest import eventually

PIPELINES = """
route:
  receiver: ops
  group_by: [alertname, user]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ops
    webhook_configs:
      - url: ${HOOK}
data_protection:
  personal_labels: [user]
retention:
  history_events: 2
  dead_letters: 1h
  receipts: 1d
  check_every: 1s
"""
ALICE, BOB, CAROL = "alice@x.org", "bob@x.org", "carol@y.org"


def alert(tenant: str, user: str, host: str = "h1", status: str = "firing") -> dict:
    return {
        "tenant": tenant,
        "status": status,
        "labels": {"alertname": "LoginFailures", "user": user, "host": host},
        "annotations": {"summary": f"failed logins for {user}"},
    }


def scan_topics(broker: str, prefix: str) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every record of every topic whose name starts with ``prefix``."""
    consumer = Consumer(
        {
            "bootstrap.servers": broker.removeprefix("kafka://"),
            "group.id": "gdpr-scan",
            "fetch.wait.max.ms": 10,
        }
    )
    out: dict[str, list[tuple[bytes, bytes]]] = {}
    todo: dict[tuple[str, int], int] = {}  # (topic, partition) -> its last offset
    start = []
    for name, meta in consumer.list_topics(timeout=10).topics.items():
        if name.startswith(prefix):
            out[name] = []
            for p in meta.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
                if high > low:
                    todo[(name, p)] = high - 1
                    start.append(TopicPartition(name, p, low))
    consumer.assign(start)
    deadline = time.monotonic() + 30
    while todo and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        out[msg.topic()].append((msg.key() or b"", msg.value() or b""))
        if msg.offset() >= todo.get((msg.topic(), msg.partition()), 1 << 62):
            del todo[(msg.topic(), msg.partition())]
    consumer.close()
    assert not todo, f"not read to the end: {todo}"
    return out


def scan_tables(data_dir: Path) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every key and value of every RocksDB table of the (stopped) worker."""
    out: dict[str, list[tuple[bytes, bytes]]] = {}
    dbs = sorted(p for p in data_dir.rglob("*.db") if p.is_dir())
    assert dbs, f"no RocksDB tables under {data_dir}"
    for path in dbs:
        db = Rdict(str(path), Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            out[path.name] = [(bytes(k), bytes(v)) for k, v in db.items()]
        finally:
            db.close()
    return out


@pytest.mark.timeout(120)
async def test_erase_a_subject_everywhere_export_and_retention(
    make_worker, receiver, broker, monkeypatch
):
    w = make_worker(PIPELINES, {"HOOK": receiver.url})
    for name in ("ALERTSTREAM_BROKER", "ALERTSTREAM_TOPIC_PREFIX", "ALERTSTREAM_APP_ID"):
        monkeypatch.setenv(name, w.env[name])  # the CLI audits its erasure to the same app
    w.start()
    await w.ready()
    async with aiohttp.ClientSession() as http:

        async def get(path: str, **params: str) -> dict:
            async with http.get(w.url + path, params=params) as r:
                assert r.status == 200, await r.text()
                return await r.json()

        async def post_alerts(items: list[dict]) -> None:
            async with http.post(w.url + "/api/v1/alerts", json=items) as r:
                assert r.status == 202, await r.text()

        everyone = {("acme", ALICE), ("acme", BOB), ("beta", ALICE), ("gamma", CAROL)}
        for tenant, user in everyone:
            await post_alerts([alert(tenant, user)])
        assert await eventually(lambda: everyone <= _users(receiver.requests), 30)
        sent = [a for n in receiver.requests for a in n["alerts"]]
        assert {a["annotations"]["summary"] for a in sent} == {
            f"failed logins for {u}" for u in (ALICE, BOB, CAROL)
        }  # delivered with the values back, annotations included

        export = await get("/api/v1/gdpr/export", tenant="acme", subject=f"user={ALICE}")
        [mine] = export["data"]
        assert mine["subject"] == f"user={ALICE}" and mine["pseudonym"].startswith("pii-")
        assert [a["labels"]["user"] for a in mine["alerts"]] == [ALICE]
        assert any(e["kind"] == "notification" for h in mine["history"].values() for e in h)

        # retention: history beyond 2 events per alert is collected
        for i in range(3):
            await post_alerts([alert("acme", BOB, status="resolved" if i % 2 == 0 else "firing")])
            await asyncio.sleep(0.4)  # each state change its own batch
        fp_bob = next(
            fp
            for fp in (await get("/api/v1/gdpr/export", tenant="acme", subject=f"user={BOB}"))[
                "data"
            ][0]["history"]
        )

        async def bob_history_len() -> int:
            return len((await get(f"/api/v1/alerts/{fp_bob}/history", tenant="acme"))["data"])

        assert await eventually(lambda: _le(bob_history_len(), 2), 15)
        status = (await get("/api/v1/status", tenant="acme"))["data"]
        assert status["retention"]["tenants"]["acme"]["history_events"] == 2
        assert status["retention"]["collected"]["deleted"]["history"] >= 1
        dlq = w.topic("dlq")
        assert status["retention"]["topics"][dlq] == {"retention_seconds": 3600.0, "set": True}
        for kept in ("audit", "audit.checkpoints"):  # for good, whatever the broker's default
            assert status["retention"]["topics"][w.topic(kept)] == {
                "retention_seconds": -1.0,
                "set": True,
            }
        assert status["personal_data"]["personal_labels"] == ["user"]

        # erase acme's Alice, and the whole of tenant gamma, through the CLI
        erase = ["gdpr", "erase", "--tenant", "acme", "--subject", f"user={ALICE}", "--url", w.url]
        assert cli(erase) == 0
        assert cli(["gdpr", "erase", "--tenant", "gamma", "--url", w.url]) == 2  # needs --yes
        assert cli(["gdpr", "erase", "--tenant", "gamma", "--yes", "--url", w.url]) == 0

        async def gone(tenant: str, **subject: str) -> bool:
            answer = await get("/api/v1/gdpr/export", tenant=tenant, **subject)
            return answer["data"] == []

        assert await eventually(lambda: gone("acme", subject=f"user={ALICE}"), 20)
        assert await eventually(lambda: gone("gamma"), 20)
        status = (await get("/api/v1/status"))["data"]
        assert status["personal_data"]["erased"] == 2
        beta = (await get("/api/v1/gdpr/export", tenant="beta", subject=f"user={ALICE}"))["data"]

        # kill -9 and restart: the mappings are read back (beta's Alice keeps her
        # pseudonym, so her alert its fingerprint), the erasures hold
        w.kill()
        w.start()
        await w.ready()
        before = len(receiver.requests)
        await post_alerts([alert("beta", ALICE), alert("acme", BOB, host="h2")])
        assert await eventually(lambda: ("acme", BOB) in _users(receiver.requests[before:]), 20)
        again = (await get("/api/v1/gdpr/export", tenant="beta", subject=f"user={ALICE}"))["data"]
        assert again[0]["pseudonym"] == beta[0]["pseudonym"]
        assert [a["labels"]["user"] for a in again[0]["alerts"]] == [ALICE]
        assert [a["fingerprint"] for a in again[0]["alerts"]] == [
            a["fingerprint"] for a in beta[0]["alerts"]
        ]
        assert await gone("acme", subject=f"user={ALICE}") and await gone("gamma")

    settings = Settings.from_env(w.env)
    w.kill()
    admin = AdminClient({"bootstrap.servers": broker.removeprefix("kafka://")})
    retention = {}
    for name in ("dlq", "audit", "audit.checkpoints"):
        resource = ConfigResource("topic", w.topic(name))
        retention[name] = admin.describe_configs([resource])[resource].result(10)["retention.ms"]
    assert {n: c.value for n, c in retention.items()} == {
        "dlq": "3600000",
        "audit": "-1",
        "audit.checkpoints": "-1",
    }

    topics = scan_topics(broker, w.namespace)
    for name in (b"alice", b"carol"):
        plain = {topic for topic, recs in topics.items() for k, v in recs if name in k + v}
        assert plain == {w.topic("alerts")}, plain  # only the producers' own input
    tables = scan_tables(w.data_dir)
    in_tables = {t for t, recs in tables.items() for k, v in recs if b"alice" in k + v}
    in_tables |= {t for t, recs in tables.items() for k, v in recs if b"carol" in k + v}
    assert in_tables == set(), in_tables

    # every mapping ever written (changelog records before the erasure included)
    protection = open_protection(settings)
    opened: dict[tuple[str, str], str] = {}
    unreadable: list[str] = []
    markers: list[str] = []  # erasure markers: a replayed old alert gets no new pseudonym
    for key, value in topics[f"{w.namespace}-subjects-changelog"]:
        if not value:
            continue  # the erasure's tombstone
        v = orjson.loads(value)
        if key.startswith(b"erased/"):
            markers.append(key.decode().split("/")[1])
            continue
        try:
            plaintext = protection.unseal(base64.b64decode(v["sealed"])).decode()
        except KeyUnavailable:
            unreadable.append(v["tenant"])
            continue
        opened[(v["tenant"], plaintext)] = key.decode()
    assert set(opened) == {("acme", BOB), ("beta", ALICE)}
    assert sorted(unreadable) == ["acme", "gamma"]  # acme's Alice and gamma's Carol, shredded
    assert sorted(markers) == ["acme", "gamma"]


async def _le(value, limit: int) -> bool:  # type: ignore[no-untyped-def]
    return await value <= limit


def _users(requests: list[dict]) -> set[tuple[str, str]]:
    return {(a["labels"]["tenant"], a["labels"]["user"]) for n in requests for a in n["alerts"]}
