"""The acceptance example of pipelines.yaml, end to end: broker, worker process, webhook."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp
import orjson

from app.client import get_alerts_system
from tests.conftest import eventually, read_topic

PIPELINES = (Path(__file__).resolve().parents[2] / "pipelines.yaml").read_text()


def samples(host: str, env: str, value: float, ts: float, n: int = 5) -> list[dict]:
    return [
        {
            "tenant": "acme",
            "name": "cpu_usage",
            "labels": {"env": env, "host": host},
            "value": value,
            "ts": ts + i,
        }
        for i in range(n)
    ]


async def feed(client, host: str, env: str, value: float, seconds: float) -> None:
    """One batch of samples a second, stamped now, for `seconds`."""
    end = time.time() + seconds
    while time.time() < end:
        assert client.send_metrics(samples(host, env, value, time.time(), 1))
        await asyncio.sleep(1.0)


async def test_high_cpu_fires_once_survives_sigkill_and_resolves(make_worker, receiver, broker):
    worker = make_worker(PIPELINES, {"ALERT_WEBHOOK_URL": receiver.url})
    worker.start()
    await worker.ready()
    client = get_alerts_system({"broker": broker, "topic_prefix": worker.namespace + "."})

    # a breach on production, a staging series at 95 and a production one at 50
    await asyncio.gather(
        feed(client, "web-1", "production", 95, 12),
        feed(client, "web-2", "staging", 95, 12),
        feed(client, "web-3", "production", 50, 12),
    )
    got = await receiver.wait_for(1, timeout=30)
    assert len(got) == 1, worker.log()
    payload = got[0]
    assert payload["version"] == "4"
    assert payload["status"] == "firing"
    assert payload["receiver"] == "ops"
    assert payload["tenant"] == "acme"
    assert payload["groupLabels"] == {"alertname": "HighCpu", "tenant": "acme"}
    [alert] = payload["alerts"]
    assert alert["labels"] == {
        "alertname": "HighCpu",
        "host": "web-1",
        "env": "production",
        "severity": "critical",
        "team": "infra",
        "tenant": "acme",
    }
    assert alert["annotations"]["summary"] == "CPU on web-1 is 95.0%"
    assert len(alert["fingerprint"]) == 16
    assert receiver.headers[0]["Idempotency-Key"]

    # the breach goes on across a SIGKILL and restart: no second notification. The marker:
    # web-4 breaches after it, in the same group; once its notification arrived, the only
    # notifications are the first one and the marker's (web-1 still firing, web-4 new)
    worker.kill()
    worker.start()
    await worker.ready()
    await feed(client, "web-1", "production", 95, 14)
    await asyncio.gather(
        feed(client, "web-1", "production", 95, 12),
        feed(client, "web-4", "production", 95, 12),
    )
    got = await receiver.wait_for(2, timeout=30)
    hosts = [sorted((a["labels"]["host"], a["status"]) for a in r["alerts"]) for r in got]
    assert hosts == [
        [("web-1", "firing")],
        [("web-1", "firing"), ("web-4", "firing")],
    ], ([r["notification_reason"] for r in got], worker.log())
    web4 = next(a["fingerprint"] for a in got[1]["alerts"] if a["labels"]["host"] == "web-4")

    # back to normal: each alert notified resolved exactly once, the group ends resolved
    await asyncio.gather(
        feed(client, "web-1", "production", 10, 14),
        feed(client, "web-4", "production", 10, 14),
    )

    def group_resolved() -> bool:
        return receiver.requests[-1]["status"] == "resolved"

    assert await eventually(group_resolved, timeout=30), worker.log()
    after = receiver.requests[2:]
    resolved = Counter(
        a["fingerprint"] for r in after for a in r["alerts"] if a["status"] == "resolved"
    )
    assert resolved == Counter([alert["fingerprint"], web4]), (after, worker.log())


async def test_poison_message_goes_to_dlq_and_good_samples_still_alert(
    make_worker, receiver, broker
):
    worker = make_worker(PIPELINES, {"ALERT_WEBHOOK_URL": receiver.url})
    worker.start()
    await worker.ready()
    client = get_alerts_system({"broker": broker, "topic_prefix": worker.namespace + "."})
    producer = client.producer
    producer.produce(worker.topic("metrics"), b"{not json", b"acme")
    producer.produce(
        worker.topic("metrics"),
        orjson.dumps(
            [{"name": "cpu_usage", "value": "high"}, {"name": "cpu_usage", "value": float("nan")}]
        ),
        b"acme",
    )
    producer.flush(10)
    await feed(client, "web-1", "production", 97, 12)
    got = await receiver.wait_for(1, timeout=30)
    assert len(got) == 1 and got[0]["status"] == "firing", worker.log()

    reasons = [d["reason"] for d in read_topic(broker, worker.topic("dlq"), want=3)]
    assert any("invalid JSON" in r for r in reasons), reasons
    assert any("value: expected a number" in r for r in reasons), reasons
    assert len(reasons) == 3, reasons


async def test_http_api_validates_and_lists_active_alerts(make_worker, receiver):
    worker = make_worker(PIPELINES, {"ALERT_WEBHOOK_URL": receiver.url})
    worker.start()
    await worker.ready()
    async with aiohttp.ClientSession() as http:
        async with http.post(worker.url + "/api/v1/alerts", data=b"[1, 2") as r:
            assert r.status == 400
            assert "invalid JSON" in (await r.json())["error"]
        async with http.post(worker.url + "/api/v1/alerts", json=[{"labels": {}}]) as r:
            assert r.status == 422
            body = await r.json()
            assert body["errors"] == [{"index": 0, "reason": "labels.alertname: required"}]
        alert = {"labels": {"alertname": "DiskFull", "host": "db-1"}, "severity": "high"}
        async with http.post(
            worker.url + "/api/v1/alerts", json=alert, headers={"X-Scope-OrgID": "acme"}
        ) as r:
            assert r.status == 202, await r.text()
        got = await receiver.wait_for(1, timeout=20)
        assert got and got[0]["alerts"][0]["labels"]["alertname"] == "DiskFull"
        async with http.get(worker.url + "/api/v1/alerts", params={"tenant": "acme"}) as r:
            data = (await r.json())["data"]
        assert [a["labels"]["host"] for a in data] == ["db-1"]
        async with http.post(
            worker.url + "/api/v1/metrics", json={"name": "x", "value": None}
        ) as r:
            assert r.status == 422
