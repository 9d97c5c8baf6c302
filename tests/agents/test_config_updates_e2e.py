"""A tenant's config changed through the API while samples flow, end to end: broker,
worker process, two webhook receivers.

About 10,000 samples/s flow (two tenants, 210 series each, 24 samples a second per
series; 10,090/s measured here).  Every series of ``beat`` gets exactly 48 samples per
2 s window, and both configs carry the rule ``Lost: count(beat) != 48``: a sample lost
(or a window dropped by the swap) would fire it (the swap comes in the middle of a
window).  Tenant a's ``Steady`` rule is unchanged by the swap (one notification, never
resolved), ``Mem`` changes (fires after it), ``Disk`` is removed (resolves).  A bad
version gets 422 and changes nothing; tenant b (the default config) keeps its own
receiver throughout.  A ``Marker`` rule closes the test: once its alerts arrived,
any ``Lost`` alert of the windows before it would have too.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from app.cli import main
from app.client import get_alerts_system
from benchmarks.peers import WebhookReceiver
from tests.conftest import eventually

HOSTS, PER_SEND = 210, 6  # 210 series x 6 samples x 4 sends/s = 5,040 samples/s per tenant
WINDOW = 2

COMMON_RULES = """
  - {alert: Lost, metric: beat, window: 2s, aggregate: count, condition: "!= 48"}
  - {alert: Marker, metric: tick, window: 2s, aggregate: count, condition: "> 0"}
"""
ROUTE = "{receiver: %s, group_by: [alertname, tenant], group_wait: 500ms, group_interval: 1s}"
DEFAULT = f"""
rules:
{COMMON_RULES}
  - {{alert: HighCpu, metric: cpu, window: 2s, condition: "> 90"}}
route: {ROUTE % "ops"}
receivers: [{{name: ops, webhook_configs: [{{url: "${{B_URL}}"}}]}}]
outbound: {{allow: [127.0.0.0/8]}}  # the tenants' own receivers are loopback peers
"""


def tenant_a(mem: str, disk: bool, url: str) -> str:
    rules = COMMON_RULES + '  - {alert: Steady, metric: cpu, window: 2s, condition: "> 90"}\n'
    rules += f'  - {{alert: Mem, metric: mem, window: 2s, condition: "{mem}"}}\n'
    if disk:
        rules += '  - {alert: Disk, metric: disk, window: 1s, grace: 0s, condition: "> 90"}\n'
    route = ROUTE % "team-a"
    receivers = f"[{{name: team-a, webhook_configs: [{{url: '{url}'}}]}}]"
    return f"rules:\n{rules}route: {route}\nreceivers: {receivers}\n"


def second(tenant: str, s: int, q: int) -> list[dict]:
    """One send of a tenant: 6 samples per beat series, all within second ``s``."""
    out = [
        {"tenant": tenant, "name": "beat", "labels": {"host": f"h{h}"}, "value": 1.0, "ts": t}
        for h in range(HOSTS)
        for t in (s + q * 0.25 + i * 0.04 for i in range(PER_SEND))
    ]
    ts = s + q * 0.25
    out.append({"tenant": tenant, "name": "cpu", "labels": {"host": "c"}, "value": 95.0, "ts": ts})
    for name, value in (("mem", 50.0), ("disk", 95.0)):
        out.append(
            {"tenant": tenant, "name": name, "labels": {"host": "m"}, "value": value, "ts": ts}
        )
    return out


def alerts_of(receiver: WebhookReceiver) -> list[tuple[str, str, str]]:
    return [
        (a["labels"]["tenant"], a["labels"]["alertname"], a["status"])
        for p in receiver.requests
        for a in p["alerts"]
    ]


async def test_a_tenant_config_swaps_while_samples_flow(
    make_worker, receiver, broker, tmp_path, capsys
):
    b_receiver = receiver
    a_receiver = WebhookReceiver()
    await a_receiver.start()
    worker = make_worker(DEFAULT, {"B_URL": b_receiver.url})
    worker.start()
    await worker.ready()
    client = get_alerts_system({"broker": broker, "topic_prefix": worker.namespace + "."})
    api = f"{worker.url}/api/v1/config/a"
    async with aiohttp.ClientSession() as http:

        async def put(text: str) -> tuple[int, dict]:
            async with http.put(api, data=text) as r:
                return r.status, await r.json()

        status, v1 = await put(tenant_a("> 90", True, a_receiver.url))
        assert status == 200 and v1["data"]["version"] == 1 and v1["data"]["applied"], v1

        start = int(time.time()) // WINDOW * WINDOW + WINDOW  # a window boundary ahead
        end = start + 8  # four full windows
        swapped = refused = False
        for s in range(start, end):
            for q in range(4):
                await asyncio.sleep(max(0.0, s + (q + 1) * 0.25 - time.time()))
                batch = second("a", s, q) + second("b", s, q)
                assert client.send_metrics(batch)
            if s == start + 4 and not swapped:  # mid-window (4..6), mid-stream
                status, v2 = await put(tenant_a("> 40", False, a_receiver.url))
                assert status == 200 and v2["data"]["version"] == 2, v2
                assert v2["data"]["changes"] == [
                    "rule Disk: removed (its firing alerts resolve)",
                    "rule Mem: changed (fresh windows and models)",
                ]
                swapped = True
            if s == start + 6 and not refused:
                bad_text = tenant_a("about 3", False, a_receiver.url) + "limits: {}\n"
                status, bad = await put(bad_text)
                assert status == 422, bad
                assert any("rules[3].condition" in e for e in bad["errors"]), bad
                assert any("limits: not allowed here" in e for e in bad["errors"]), bad
                refused = True
        client.producer.flush(10)
        stopped = time.time()
        # the marker: a tick in a new window, then one that closes it (and the last beats)
        client.send_metrics(
            [
                {"tenant": t, "name": "tick", "labels": {}, "value": 1.0, "ts": end + dt}
                for t in ("a", "b")
                for dt in (0.1, 2 * WINDOW + 3)
            ]
        )

        def marked() -> bool:
            return ("a", "Marker", "firing") in alerts_of(a_receiver) and (
                "b",
                "Marker",
                "firing",
            ) in alerts_of(b_receiver)

        assert await eventually(marked, timeout=30), worker.log()
        await asyncio.sleep(1.0)
        async with http.get(api) as r:
            current = (await r.json())["data"]
        async with http.get(api + "/versions") as r:
            versions = [v["version"] for v in (await r.json())["data"]]
        receivers = {}
        for tenant in ("a", "b"):
            headers = {"X-Scope-OrgID": tenant}
            async with http.get(f"{worker.url}/api/v2/receivers", headers=headers) as r:
                receivers[tenant] = [x["name"] for x in await r.json()]
        assert receivers == {"a": ["team-a"], "b": ["ops"]}
    await a_receiver.stop()
    # the CLI, through the same API: a diff against the running version, then a rollback
    v2_file = tmp_path / "a.yaml"
    v2_file.write_text(tenant_a("> 40", False, a_receiver.url).replace("> 40", "> 45"))
    cli = ["config", "--url", worker.url, "--tenant", "a"]
    assert await asyncio.to_thread(main, [*cli, "diff", str(v2_file)]) == 0
    diffed = capsys.readouterr().out
    assert diffed.startswith("rule Mem: changed") and "+  - {alert: Mem" in diffed, diffed
    v2_file.write_text("route: {receiver: nobody}\nreceivers: []\nbogus: 1\n")
    assert await asyncio.to_thread(main, [*cli, "apply", str(v2_file)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert [e.split(": ")[:2] for e in errors] == [
        [f"{v2_file}:3", "bogus"],
        [f"{v2_file}:1", "(top)"],
    ], errors
    assert await asyncio.to_thread(main, [*cli, "rollback"]) == 0
    assert "tenant a: version 3 " in capsys.readouterr().out

    got_a, got_b = alerts_of(a_receiver), alerts_of(b_receiver)
    assert current["version"] == 2 and "refused" not in current  # 422: never produced
    assert versions == [2, 1]
    # no sample lost, no window dropped by the swap: Lost never fired for either tenant
    assert not [x for x in got_a + got_b if x[1] == "Lost"], (got_a, got_b)
    # the unchanged rule: one firing notification, never resolved
    # while samples flowed (after they stop, its alert expires and resolves)
    steady = [
        p["status"]
        for p, arrival in zip(a_receiver.requests, a_receiver.arrivals, strict=True)
        if p["groupLabels"].get("alertname") == "Steady" and arrival.at < stopped
    ]
    assert steady == ["firing"], got_a
    # the changed rule fires under its new condition; the removed rule resolved
    assert ("a", "Mem", "firing") in got_a
    assert got_a.index(("a", "Disk", "firing")) < got_a.index(("a", "Disk", "resolved"))
    # two tenants, two receivers, never crossed
    assert {t for t, _, _ in got_a} == {"a"} and {t for t, _, _ in got_b} == {"b"}
    assert ("b", "HighCpu", "firing") in got_b
    assert not [x for x in got_b if x[1] in ("Steady", "Mem", "Disk")]
