"""Incidents end to end, one worker: a storm from one outage across three routes (db,
network, app) becomes one incident notified as one growing notification; an
unrelated alert in the same window stays out; kill -9 mid-storm loses no membership;
a resolved incident takes no new alerts."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from app.cli import main
from app.client import get_alerts_system
from models.alerting.fingerprint import fingerprint
from tests.conftest import eventually, read_topic

PIPELINES = """
route:
  receiver: app
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - {matchers: ['team="db"'], receiver: db, notify_by: incident}
    - {matchers: ['team="net"'], receiver: net, notify_by: incident}
    - {matchers: ['team="app"'], receiver: app, notify_by: incident}
receivers:
  - {name: db, webhook_configs: [{url: "${HOOK}"}]}
  - {name: net, webhook_configs: [{url: "${HOOK}"}]}
  - {name: app, webhook_configs: [{url: "${HOOK}"}]}
correlation:
  rules:
    - name: outage
      correlate_by: [cluster]
      window: 10m
      min_alerts: 2
    - name: near
      topology: true
  topology:
    label: service
"""
TENANT = {"X-Scope-OrgID": "acme"}


def alert(name: str, team: str, cluster: str = "eu", **labels: str) -> dict:
    return {"labels": {"alertname": name, "team": team, "cluster": cluster, **labels}}


def fp(a: dict) -> str:
    return fingerprint({**a["labels"], "tenant": "acme"})


async def test_storm_one_incident_one_growing_notification_kill_resolve(
    make_worker, receiver, broker, capsys
):
    worker = make_worker(PIPELINES, {"HOOK": receiver.url, "ALERTSTREAM_TICK": "0.2"})
    worker.start()
    await worker.ready()
    # tenant globex's service graph, on the compacted topology topic (and a bad record)
    client = get_alerts_system({"broker": broker, "topic_prefix": worker.namespace + "."})
    graph = orjson.dumps({"edges": [["api", "db"]]})
    client.producer.produce(worker.topic("topology"), b"not json", b"globex")
    client.producer.produce(worker.topic("topology"), graph, b"globex")
    assert client.producer.flush(30) == 0
    async with aiohttp.ClientSession() as http:

        async def post(alerts: list[dict]) -> None:
            async with http.post(worker.url + "/api/v1/alerts", json=alerts, headers=TENANT) as r:
                assert r.status == 202, await r.text()

        async def incidents() -> list[dict]:
            url = worker.url + "/api/v1/incidents?pending=1"
            async with http.get(url, headers=TENANT) as r:
                return (await r.json())["data"] if r.status == 200 else []

        async def members(iid: str) -> set[str]:
            async with http.get(f"{worker.url}/api/v1/incidents/{iid}", headers=TENANT) as r:
                if r.status != 200:
                    return set()
                return {m["fingerprint"] for m in (await r.json())["data"]["members"]}

        async def incident_of(a: dict) -> str | None:
            for inc in await incidents():
                if fp(a) in await members(inc["id"]):
                    return inc["id"]
            return None

        # the storm's first wave, across the three routes, and an unrelated alert
        first = [alert("DbDown", "db"), alert("LinkDown", "net")]
        first += [alert("ApiErrors", "app", instance=f"i{i}") for i in range(3)]
        unrelated = alert("DiskFull", "db", cluster="us")
        await post(first[:1])
        assert await eventually(lambda: incident_of(first[0]), 30), worker.log()
        await post([*first[1:], unrelated])
        iid = await eventually(lambda: incident_of(first[-1]), 30)
        assert iid == await incident_of(first[0]), worker.log()
        assert await incident_of(unrelated) not in (None, iid)

        def notified(incident: str) -> list[dict]:
            return [r for r in receiver.requests if r["groupLabels"].get("incident") == incident]

        assert await eventually(lambda: len(notified(iid)) >= 1 and notified(iid)[-1]["alerts"])

        # second wave, straight to the topic (acknowledged by the broker, unlike the
        # API's 202), in small records; kill -9 while the worker takes them in
        second = [alert("ApiErrors", "app", instance=f"j{i}") for i in range(12)]
        for i in range(0, len(second), 3):
            client.producer.produce(
                worker.topic("alerts"), orjson.dumps(second[i : i + 3]), b"acme"
            )
        assert client.producer.flush(30) == 0
        await eventually(lambda: incident_of(second[0]), 10, every=0.05)
        worker.kill()
        worker.start()
        await worker.ready()
        want = {fp(a) for a in first + second}

        async def complete() -> bool:
            return want <= await members(iid)

        assert await eventually(complete, 40), (len(await members(iid)), worker.log())

        # one notification stream for the whole storm, and it grew
        def storm_notified() -> bool:
            last = notified(iid)[-1:] if notified(iid) else []
            return bool(last) and {a["fingerprint"] for a in last[0]["alerts"]} >= want

        assert await eventually(storm_notified, 30), [len(r["alerts"]) for r in notified(iid)]
        sizes = [len(r["alerts"]) for r in notified(iid)]
        assert sizes[0] < sizes[-1] == len(want), sizes
        keys = {r["groupKey"] for r in receiver.requests if fp_in(r, want)}
        assert len(keys) == 1, keys  # no per-route or per-alertname group carried them
        assert not any(fp(unrelated) in fps(r) for r in notified(iid))

        # the topic says it opened; resolving it by hand stops it taking alerts
        events = read_topic(broker, worker.topic("incidents"), 1, timeout=10)
        assert any(e["id"] == iid and e["event"] == "opened" for e in events), events
        async with http.post(
            f"{worker.url}/api/v1/incidents/{iid}/resolve", json={"user": "e2e"}, headers=TENANT
        ) as r:
            assert r.status == 202, await r.text()

        async def resolved() -> bool:
            async with http.get(f"{worker.url}/api/v1/incidents/{iid}", headers=TENANT) as r:
                return (await r.json())["data"]["status"] == "resolved"

        assert await eventually(resolved, 20)
        late = alert("CacheDown", "app")
        await post([late])
        other = await eventually(lambda: incident_of(late), 20)
        assert other not in (None, iid)
        assert fp(late) not in await members(iid)

        # the topology topic's graph (kept across the restart): api and db are neighbours
        globex = {"X-Scope-OrgID": "globex"}
        near = [{"labels": {"alertname": n, "service": s}} for n, s in [("A", "api"), ("B", "db")]]
        far = {"labels": {"alertname": "C", "service": "mail"}}
        for a in [*near, far]:
            async with http.post(worker.url + "/api/v1/alerts", json=[a], headers=globex) as r:
                assert r.status == 202

        async def globex_incidents() -> list[dict]:
            async with http.get(worker.url + "/api/v1/incidents?pending=1", headers=globex) as r:
                found = (await r.json())["data"]
            return found if sum(i["alerts"] for i in found) == 3 else []

        found = await eventually(globex_incidents, 20)
        assert sorted(i["alerts"] for i in found) == [1, 2], found
        dead = read_topic(broker, worker.topic("dlq"), 1, timeout=10)
        assert any("topology: invalid JSON" in str(d) for d in dead), dead

        # merge by hand, then split one alert off again, through the commands topic
        pair, lone = sorted(found, key=lambda i: -i["alerts"])
        base = f"{worker.url}/api/v1/incidents/{pair['id']}"
        body = {"sources": [lone["id"]], "user": "e2e"}
        async with http.post(base + "/merge", json=body, headers=globex) as r:
            assert r.status == 202

        async def sizes() -> list[int]:
            async with http.get(worker.url + "/api/v1/incidents", headers=globex) as r:
                return sorted(i["alerts"] for i in (await r.json())["data"] if i["alerts"])

        assert await eventually(lambda: _is(sizes(), [3]), 20)
        split = {"fingerprints": [fingerprint({**far["labels"], "tenant": "globex"})]}
        async with http.post(base + "/split", json=split, headers=globex) as r:
            assert r.status == 202
        assert await eventually(lambda: _is(sizes(), [1, 2]), 20)

        # bad requests: every reason at once, nothing done
        url = f"{worker.url}/api/v1/incidents/{iid}/merge"
        async with http.post(url, data=b"[1]", headers=TENANT) as r:
            assert r.status == 400
        async with http.post(url, json={"sources": []}) as r:
            assert r.status == 422
            assert len((await r.json())["errors"]) == 2  # no tenant, no sources
        async with http.post(worker.url + "/api/v1/correlation/graph", json={}) as r:
            assert r.status == 422 and len((await r.json())["errors"]) == 4
        async with http.get(worker.url + "/api/v1/correlation/graph", headers=TENANT) as r:
            assert r.status == 200 and "edges" in (await r.json())["data"]
        async with http.get(worker.url + "/api/v1/incidents") as r:
            assert r.status == 400

    # the CLI reads the same API
    args = ["incidents", "list", "--tenant", "acme", "--url", worker.url]
    assert await asyncio.to_thread(main, args) == 0
    listed = capsys.readouterr().out
    assert iid in listed and "resolved" in listed


def fps(notification: dict) -> set[str]:
    return {a["fingerprint"] for a in notification["alerts"]}


def fp_in(notification: dict, want: set[str]) -> bool:
    return bool(fps(notification) & want)


async def _is(got, want):  # type: ignore[no-untyped-def]
    return await got == want
