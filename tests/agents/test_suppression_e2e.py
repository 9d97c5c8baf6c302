"""Suppression end to end. Two workers of one app: silences replicated to every
worker, silenced alerts not notified, API v2 reads gathered from both workers,
per-tenant limits counted and reported, the alert history answered from the table.
One worker: an acknowledged group stops repeating while another repeats; flapping."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter

import aiohttp

from app.audit_cli import read_topic as read_audit
from app.settings import Settings
from models.audit.verify import verify
from tables.audit_key import load_public_keys
from tests.conftest import Worker, eventually

PIPELINES = """
route:
  receiver: ops
  group_by: [alertname, tenant]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 3s
receivers:
  - name: ops
    webhook_configs:
      - url: ${HOOK}
limits:
  max_active_alerts: 4
"""
TENANTS = ["acme", "globex", "initech", "umbrella"]


def alerts(tenant: str, *names: str) -> list[dict]:
    return [{"labels": {"alertname": n, "tenant": tenant, "host": "h1"}} for n in names]


async def test_two_workers_silences_ack_limits_history(make_worker, receiver, broker, tmp_path):
    one = make_worker(PIPELINES, {"HOOK": receiver.url})
    (tmp_path / "two").mkdir()
    two = Worker(broker, tmp_path / "pipelines.yaml", tmp_path / "two", {"HOOK": receiver.url})
    two.env["ALERTSTREAM_APP_ID"] = one.namespace
    two.env["ALERTSTREAM_TOPIC_PREFIX"] = one.namespace + "."
    two.namespace = one.namespace
    one.start()
    await one.ready()
    await ack_nothing(one)  # an audit entry of acme, chained by one before two joins
    assert await eventually(lambda: len(audit_entries(one, "acme")) >= 2), one.log()
    two.start()
    try:
        await two.ready()
        async with aiohttp.ClientSession() as http:
            await _scenario(http, one, two, receiver)
        # the audit chains went on across the rebalance: the partition two took over was
        # extended by two after one's entries (no fork, no gap), the other by one
        await ack_nothing(two)
        assert await eventually(lambda: len(audit_entries(one, "acme")) >= 4), two.log()
        # one signing key for both (beside their pipelines file): one public key verifies
        keys = load_public_keys([tmp_path / "audit-signing.key.pub"])
        records = list(read_audit(Settings.from_env(one.env), "audit", 10))
        report = verify(records, keys)
        assert report.ok and report.entries["*"] >= 2, (report, records)
    finally:
        two.stop()


ACME = {"X-Scope-OrgID": "acme"}


async def ack_nothing(worker: Worker) -> None:
    """A mutating request the scenario does not otherwise see (two audit entries)."""
    body = {"tenant": "acme", "group_key": "{}:{}", "user": "e2e"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(worker.url + "/api/v1/groups/ack", json=body, headers=ACME) as r,
    ):
        assert r.status == 202, await r.text()


def audit_entries(worker: Worker, tenant: str) -> list[dict]:
    audit = read_audit(Settings.from_env(worker.env), "audit", 10)
    return [e for _, e in audit if e["kind"] == "entry" and e["tenant"] == tenant]


async def _scenario(http, one, two, receiver) -> None:  # type: ignore[no-untyped-def]
    async def get(url: str, **kw):  # type: ignore[no-untyped-def]
        async with http.get(url, **kw) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    # both workers own a partition once the rebalance settles
    async def split() -> bool:
        for w in (one, two):
            async with http.get(w.url + "/healthz") as r:
                if r.status != 200 or (await r.json())["partitions"] < 1:
                    return False
        return True

    assert await eventually(split, 40), one.log() + two.log()

    # a silence posted to one worker is in the other's index
    silence = {
        "matchers": [{"name": "alertname", "value": "Quiet", "isRegex": False}],
        "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "e2e",
        "comment": "replicated",
    }
    async with http.post(one.url + "/api/v2/silences", json=silence) as r:
        assert r.status == 200, await r.text()
        sid = (await r.json())["silenceID"]

    async def replicated() -> bool:
        return [s["id"] for s in await get(two.url + "/api/v2/silences")] == [sid]

    assert await eventually(replicated), two.log()

    # alerts of four tenants (both partitions), posted through worker two, then a marker
    # alert per tenant: once every marker is notified, Quiet (silenced) never was
    for t in TENANTS:
        async with http.post(two.url + "/api/v2/alerts", json=alerts(t, "Loud", "Quiet")) as r:
            assert r.status == 200, await r.text()
    for t in TENANTS:
        async with http.post(two.url + "/api/v2/alerts", json=alerts(t, "Marker")) as r:
            assert r.status == 200, await r.text()

    def notified() -> Counter[tuple[str, str]]:
        return Counter(
            (r["tenant"], a["labels"]["alertname"]) for r in receiver.requests for a in r["alerts"]
        )

    def markers_arrived() -> bool:
        return all(notified()[(t, "Marker")] for t in TENANTS)

    assert await eventually(markers_arrived, 30), (notified(), one.log() + two.log())
    expected = Counter((t, name) for t in TENANTS for name in ("Loud", "Marker"))
    assert notified() == expected, notified()

    # API v2 reads gather both workers: every tenant's alerts, with silence state
    listed = await get(one.url + "/api/v2/alerts", params={"silenced": "true"})
    assert len(listed) == 12, listed
    quiet = [a for a in listed if a["labels"]["alertname"] == "Quiet"]
    assert all(a["status"]["silencedBy"] == [sid] for a in quiet)
    assert all(a["status"]["state"] == "suppressed" for a in quiet)
    only_acme = await get(
        two.url + "/api/v2/alerts",
        params={"silenced": "false"},
        headers={"X-Scope-OrgID": "acme"},
    )
    assert sorted(a["labels"]["alertname"] for a in only_acme) == ["Loud", "Marker"]

    # limits: acme has 3 active alerts, cap 4: 1 more accepted, 2 rejected, reported
    async with http.post(two.url + "/api/v2/alerts", json=alerts("acme", "C1", "C2", "C3")) as r:
        assert r.status == 200

    async def limited():  # type: ignore[no-untyped-def]
        reports = [await get(w.url + "/api/v1/limits") for w in (one, two)]
        return [
            r["data"]["tenants"]["acme"]
            for r in reports
            if r["data"]["tenants"].get("acme", {}).get("alerts_rejected")
        ]

    [acme] = await eventually(limited)
    assert acme["alerts_rejected"] == 2 and acme["active_alerts"] == 4, acme

    # history: the Loud alert of acme fired and was notified
    fp = next(a["fingerprint"] for a in only_acme if a["labels"]["alertname"] == "Loud")
    hist = await get(one.url + f"/api/v1/alerts/{fp}/history", headers={"X-Scope-OrgID": "acme"})
    kinds = [(e["kind"], e["status"]) for e in hist["data"]]
    assert kinds[0] == ("alert", "firing"), kinds
    assert ("notification", "firing") in kinds, kinds
    async with http.get(one.url + "/api/v1/alerts/nothex/history") as r:
        assert r.status == 400


FLAPPING = """
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ops
    webhook_configs:
      - url: ${HOOK}
flapping: {threshold: 2, window: 1m, stable_for: 4s}
"""


async def test_flapping_alert_is_notified_once_as_flapping_then_its_stable_state(
    make_worker, receiver
):
    worker = make_worker(FLAPPING, {"HOOK": receiver.url})
    worker.start()
    await worker.ready()
    labels = {"alertname": "Flappy", "host": "h1"}

    async def send(http, firing: bool) -> None:  # type: ignore[no-untyped-def]
        ends = time.time() + (3600 if firing else -1)
        ends_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ends))
        async with http.post(
            worker.url + "/api/v2/alerts", json=[{"labels": labels, "endsAt": ends_at}]
        ) as r:
            assert r.status == 200, await r.text()

    def seen() -> list[tuple[str, str | None]]:
        return [
            (r["status"], r["alerts"][0]["annotations"].get("flapping")) for r in receiver.requests
        ]

    async with aiohttp.ClientSession() as http:
        # two changes: not flapping yet, each state notified in order (deadlines, no windows)
        for n, firing in enumerate((True, False, True), start=1):
            await send(http, firing)
            await receiver.wait_for(n, timeout=20)
        assert seen() == [("firing", None), ("resolved", None), ("firing", None)], worker.log()
        # the third change flaps: notified once, as flapping and firing, the later changes
        # swallowed; quiet for stable_for (4 s), its real state (resolved) is notified
        for firing in (False, True, False, True, False):
            await send(http, firing)
            await asyncio.sleep(0.4)  # pacing the input, well inside stable_for
        await receiver.wait_for(5, timeout=30)
        assert seen()[3:] == [("firing", "true"), ("resolved", None)], (seen(), worker.log())


async def test_acked_group_stops_repeating_while_another_repeats(make_worker, receiver):
    worker = make_worker(
        PIPELINES.replace("max_active_alerts: 4", "max_active_alerts: 0"), {"HOOK": receiver.url}
    )
    worker.start()
    await worker.ready()
    async with aiohttp.ClientSession() as http:
        for t in ("acme", "globex"):
            async with http.post(worker.url + "/api/v2/alerts", json=alerts(t, "Loud")) as r:
                assert r.status == 200, await r.text()
        await receiver.wait_for(2, timeout=20)
        # ack acme's group: it stops repeating (repeat_interval 3s) while globex repeats;
        # wait until the worker logs the ack applied to the group's log entries
        key = next(r["groupKey"] for r in receiver.requests if r["tenant"] == "acme")
        applied = re.compile(r"ack acme/.* [1-9]\d* log entries")

        async def acked() -> bool:
            async with http.post(
                worker.url + "/api/v1/groups/ack", json={"tenant": "acme", "group_key": key}
            ) as r:
                assert r.status == 202, await r.text()
            await asyncio.sleep(1.0)
            return any(applied.search(w.log_path.read_text()) for w in (worker,))

        assert await eventually(acked, 30), worker.log()
        async with http.post(worker.url + "/api/v1/groups/ack", json={"tenant": "acme"}) as r:
            assert r.status == 400 and "group_key" in await r.json()
        await asyncio.sleep(1.0)  # lets a repeat already on its way before the ack land
        mark = len(receiver.requests)

        # the marker: globex repeats twice (repeat_interval 3s) through the same path;
        # by then acme would have repeated at least once had the ack not held
        def globex_repeats() -> int:
            return sum(
                1
                for r in receiver.requests[mark:]
                if (r["tenant"], r["notification_reason"]) == ("globex", "repeat_interval")
            )

        assert await eventually(lambda: globex_repeats() >= 2, 30), receiver.requests[mark:]
        later = [(r["tenant"], r["notification_reason"]) for r in receiver.requests[mark:]]
        assert not any(tenant == "acme" for tenant, _ in later), later
