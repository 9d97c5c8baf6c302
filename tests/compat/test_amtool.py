"""The real amtool against a worker: alert add/query, silence add/query/expire,
config show. amtool talks API v2 through its generated client, which validates the
response shapes, so a passing run means our JSON has Alertmanager's shape."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess

import aiohttp

from tests.compat.harness import AMTOOL, amtool, needs_amtool

PIPELINES = """
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: db
      matchers: ['team="db"']
receivers:
  - name: ops
    webhook_configs:
      - url: ${HOOK}
  - name: db
    webhook_configs:
      - url: ${HOOK}
        http_config:
          basic_auth: {username: am, password: hunter2}
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [instance]
"""


async def _groups(
    http: aiohttp.ClientSession, url: str, **query: str
) -> list[tuple[str, dict[str, str], list[str]]]:
    """GET /api/v2/alerts/groups as (receiver, group labels, alert names), sorted."""
    async with http.get(url + "/api/v2/alerts/groups", params=query) as r:
        assert r.status == 200, await r.text()
        groups = await r.json()
    return sorted(
        (g["receiver"]["name"], g["labels"], [a["labels"]["alertname"] for a in g["alerts"]])
        for g in groups
    )


async def _until(check, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await check()
        if got or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.2)


@needs_amtool
async def test_amtool_alerts_silences_and_config(make_worker, receiver):
    worker = make_worker(PIPELINES, {"HOOK": receiver.url})
    worker.start()
    await worker.ready()
    url = worker.url

    # alert add / query (amtool posts API v2 PostableAlerts)
    amtool(
        url,
        "alert",
        "add",
        "alertname=DiskFull",
        "instance=db-1",
        "team=db",
        "severity=warning",
        "--annotation=summary=disk",
    )
    amtool(url, "alert", "add", "alertname=NodeDown", "instance=db-1", "severity=critical")

    async def two() -> bool:
        out = amtool(url, "alert", "query", "-o", "json").stdout
        return len(json.loads(out)) == 1  # DiskFull is inhibited, hidden by default

    assert await _until(two), amtool(url, "alert", "query", "-o", "json").stdout + worker.log()
    shown = json.loads(amtool(url, "alert", "query", "-o", "json").stdout)
    assert [a["labels"]["alertname"] for a in shown] == ["NodeDown"]
    assert shown[0]["status"]["state"] == "active"
    assert shown[0]["receivers"] == [{"name": "ops"}]
    everything = json.loads(amtool(url, "alert", "query", "-i", "-o", "json").stdout)
    disk = next(a for a in everything if a["labels"]["alertname"] == "DiskFull")
    assert disk["status"]["state"] == "suppressed"
    assert disk["status"]["inhibitedBy"] == [shown[0]["fingerprint"]]
    assert disk["receivers"] == [{"name": "db"}]
    assert (
        amtool(url, "alert", "query", "alertname=NodeDown", "-o", "simple").stdout.count("NodeDown")
        == 1
    )

    # the same state as groups (amtool has no groups command; karma reads this)
    async with aiohttp.ClientSession() as http:
        assert await _groups(http, url, inhibited="false") == [
            ("ops", {"alertname": "NodeDown"}, ["NodeDown"])
        ]
        assert await _groups(http, url) == [
            ("db", {"alertname": "DiskFull"}, ["DiskFull"]),
            ("ops", {"alertname": "NodeDown"}, ["NodeDown"]),
        ]
        assert await _groups(http, url, filter='team="db"') == [
            ("db", {"alertname": "DiskFull"}, ["DiskFull"])
        ]

    # silence add / query / expire
    sid = amtool(
        url, "silence", "add", "alertname=NodeDown", "-c", "maintenance", "-a", "alice", "-d", "1h"
    ).stdout.strip()
    assert len(sid) == 36, sid
    listed = json.loads(amtool(url, "silence", "query", "-o", "json").stdout)
    assert [s["id"] for s in listed] == [sid]
    assert listed[0]["createdBy"] == "alice" and listed[0]["status"]["state"] == "active"
    assert amtool(url, "silence", "query", "-q").stdout.split() == [sid]
    silenced = json.loads(amtool(url, "alert", "query", "-s", "-o", "json").stdout)
    node = next(a for a in silenced if a["labels"]["alertname"] == "NodeDown")
    assert node["status"]["silencedBy"] == [sid]
    assert json.loads(amtool(url, "alert", "query", "-o", "json").stdout) == []

    amtool(url, "silence", "expire", sid)
    assert amtool(url, "silence", "query", "-q").stdout.split() == []
    expired = json.loads(amtool(url, "silence", "query", "--expired", "-o", "json").stdout)
    assert [s["id"] for s in expired] == [sid]
    assert expired[0]["status"]["state"] == "expired"

    # bad input: amtool refuses locally or we answer 400 with Alertmanager's text
    bad = amtool(url, "silence", "add", 'foo=~"("', "-c", "x", check=False)
    assert bad.returncode != 0
    async with aiohttp.ClientSession() as http:
        body = {
            "matchers": [{"name": "a", "value": "(", "isRegex": True}],
            "startsAt": "2030-01-01T00:00:00Z",
            "endsAt": "2030-01-02T00:00:00Z",
            "createdBy": "x",
            "comment": "y",
        }
        async with http.post(url + "/api/v2/silences", json=body) as r:
            assert r.status == 400
            assert "error parsing regexp" in await r.json()
        body["matchers"] = [{"name": "a", "value": "b", "isRegex": False}]
        body["endsAt"] = "2029-01-01T00:00:00Z"
        async with http.post(url + "/api/v2/silences", json=body) as r:
            assert r.status == 400
            assert await r.json() == "start time must be before end time"
        async with http.post(url + "/api/v2/alerts", json=[{"labels": {"0bad": "x"}}]) as r:
            assert r.status == 400
            assert "invalid label set" in await r.json()
    assert amtool(url, "silence", "query", "-q", "--expired").stdout.split() == [sid]

    # config show prints the Alertmanager sections of pipelines.yaml
    shown_config = amtool(url, "config", "show").stdout
    assert "receiver: ops" in shown_config and "inhibit_rules" in shown_config
    assert "/<secret>" in shown_config and "/hook" not in shown_config
    assert "password: <secret>" in shown_config and "hunter2" not in shown_config
    routes = amtool(url, "config", "routes", "show").stdout
    assert "ops" in routes and 'team="db"' in routes, routes
    tested = amtool(url, "config", "routes", "test", "team=db", "alertname=X").stdout
    assert tested.strip() == "db"


@needs_amtool
def test_amtool_is_alertmanagers_own_client():
    """The test above ran Alertmanager's amtool (0.25 or later: API v2 only), not a
    stand-in that happens to be called amtool."""
    version = subprocess.run(
        [str(AMTOOL), "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    printed = version.stdout + version.stderr
    found = re.match(r"amtool, version (\d+)\.(\d+)\.\d+ ", printed)
    assert found, printed
    assert (int(found[1]), int(found[2])) >= (0, 25), printed
