"""Differential test: the same alert stream to the real Alertmanager and to a worker.

One Alertmanager (Debian's prometheus-alertmanager 0.25, gossip off) and one worker
run the SAME route / receivers / inhibit_rules / time_intervals (our pipelines.yaml
is alertmanager.yml plus our own keys), each with a loopback webhook receiver.  The
same alerts and silences are posted to both through API v2, in phases; after each
phase we wait until both receivers settle and compare, per (receiver, groupKey):
the group labels, the alerts notified firing and those notified resolved; and, per
alert, what GET /api/v2/alerts says (state, silenced or not, inhibitedBy).

Scenarios, all in one config so one worker start serves them (the suite stays fast):
nested routes with ``continue``; ``group_by: ['...']``; regex and negative matchers;
inhibition with an ``equal`` label and with the label missing on both sides; a
silence added before an alert fires and expired mid-stream; a mute time interval
that is always active next to one that never is.

Every alert carries ``tenant="default"`` when posted to Alertmanager too: our
pipeline adds that label to every alert, so with it the label sets, fingerprints
and group keys are byte-identical.

Deliberate difference, by name: ``send_resolved_for_muted`` (our addition, AM #226)
is on in our config; the alert ``MutedThenResolved`` fires, is notified, is silenced,
then resolves: Alertmanager never sends its resolution, we do.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from tests.compat.harness import Alertmanager, needs_am
from tests.conftest import Receiver

SECTIONS = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['service=~"api|web"']
      receiver: frontend
      group_by: [alertname, service]
      continue: true
      routes:
        - matchers: ['severity="critical"']
          receiver: pager
    - matchers: ['service="web"']
      receiver: web-team
      group_by: ['...']
    - matchers: ['team=~"db.*"', 'env!="dev"']
      receiver: db
      group_by: [cluster]
    - matchers: ['maint="yes"']
      receiver: maint
      mute_time_intervals: [always]
    - matchers: ['maint="never"']
      receiver: maint
      mute_time_intervals: [never]
receivers:
  - name: default
    webhook_configs: [{url: "HOOK"}]
  - name: frontend
    webhook_configs: [{url: "HOOK"}]
  - name: pager
    webhook_configs: [{url: "HOOK"}]
  - name: web-team
    webhook_configs: [{url: "HOOK"}]
  - name: db
    webhook_configs: [{url: "HOOK"}]
  - name: maint
    webhook_configs: [{url: "HOOK"}]
inhibit_rules:
  - source_matchers: ['alertname="NodeDown"']
    target_matchers: ['alertname="InstanceSlow"']
    equal: [instance]
  - source_matchers: ['alertname="ClusterDown"']
    target_matchers: ['alertname="ClusterSlow"']
    equal: [zone]
time_intervals:
  - name: always
    time_intervals: [{times: [{start_time: "00:00", end_time: "24:00"}]}]
  - name: never
    time_intervals: [{years: ["2000"]}]
"""
OURS_ONLY = "send_resolved_for_muted: true\n"
DIFFERENT = "MutedThenResolved"  # the alert where we deliberately differ


def A(**labels: str) -> dict[str, str]:
    return {"tenant": "default", **labels}


PHASE1 = [
    A(alertname="HighLatency", service="api", severity="critical"),
    A(alertname="HighLatency", service="web", severity="warning"),
    A(alertname="HighLatency", service="web", severity="critical"),
    A(alertname="DbSlow", team="db-core", env="prod", cluster="c1"),
    A(alertname="DbSlow", team="db-core", env="dev", cluster="c1"),
    A(alertname="DbSlow", team="dbx", env="prod", cluster="c2"),
    A(alertname="Maint", maint="yes"),
    A(alertname="Maint", maint="never"),
    A(alertname="NodeDown", instance="i1"),
    A(alertname="InstanceSlow", instance="i1"),
    A(alertname="InstanceSlow", instance="i2"),
    A(alertname="ClusterDown"),
    A(alertname="ClusterSlow"),
    A(alertname="ClusterSlow", zone="z1"),
    A(alertname="Silenced", host="h1"),
    A(alertname="Silenced", host="h2"),
    A(alertname=DIFFERENT, host="h1"),
]


def body(labels: list[dict[str, str]], resolved: bool = False) -> list[dict[str, Any]]:
    now = time.time()
    ends = now - 1 if resolved else now + 3600
    fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + "Z"  # noqa: E731
    return [
        {
            "labels": lab,
            "annotations": {"summary": "s"},
            "startsAt": fmt(now - 60),
            "endsAt": fmt(ends),
        }
        for lab in labels
    ]


def silence_body(alertname: str) -> dict[str, Any]:
    now = time.time()
    fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    return {
        "matchers": [{"name": "alertname", "value": alertname, "isRegex": False, "isEqual": True}],
        "startsAt": fmt(now - 1),
        "endsAt": fmt(now + 3600),
        "createdBy": "differential",
        "comment": "test",
    }


def summary(requests: list[dict]) -> dict[tuple[str, str], dict[str, Any]]:
    """(receiver, groupKey) -> group labels, fingerprints notified firing / resolved."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in requests:
        g = out.setdefault(
            (r["receiver"], r["groupKey"]),
            {"labels": r["groupLabels"], "firing": set(), "resolved": set()},
        )
        for a in r["alerts"]:
            g[a["status"]].add(a["labels"]["alertname"] + str(sorted(a["labels"].items())))
    return out


def without(s: dict, alertname: str) -> dict:
    out = {}
    for k, g in s.items():
        firing = {x for x in g["firing"] if not x.startswith(alertname + "[")}
        resolved = {x for x in g["resolved"] if not x.startswith(alertname + "[")}
        if firing or resolved:
            out[k] = {"labels": g["labels"], "firing": firing, "resolved": resolved}
    return out


async def settle(am: Receiver, us: Receiver, since: tuple[int, int], exclude: str = ""):
    """Wait until both receivers' summaries since ``since`` agree and stay so ~2 s."""
    deadline = time.monotonic() + 25
    stable_since = None
    last = None
    while time.monotonic() < deadline:
        a = summary(am.requests[since[0] :])
        b = summary(us.requests[since[1] :])
        if exclude:
            a, b = without(a, exclude), without(b, exclude)
        now = (a, b)
        if a == b and a and now == last:
            if stable_since and time.monotonic() - stable_since > 2.0:
                return a, b
            stable_since = stable_since or time.monotonic()
        else:
            stable_since = None
        last = now
        await asyncio.sleep(0.25)
    return summary(am.requests[since[0] :]), summary(us.requests[since[1] :])


async def alert_states(http: aiohttp.ClientSession, url: str) -> dict[str, tuple]:
    q = {"silenced": "true", "inhibited": "true", "active": "true"}
    async with http.get(url + "/api/v2/alerts", params=q) as r:
        assert r.status == 200, await r.text()
        alerts = await r.json()
    return {
        a["fingerprint"]: (
            a["labels"]["alertname"],
            a["status"]["state"],
            bool(a["status"]["silencedBy"]),
            sorted(a["status"]["inhibitedBy"]),
            sorted(x["name"] for x in a["receivers"]),
        )
        for a in alerts
    }


@needs_am
async def test_same_stream_same_notifications_as_alertmanager(make_worker, receiver, tmp_path):
    (tmp_path / "am").mkdir()
    am = Alertmanager(tmp_path / "am")
    hook_am = Receiver()
    await hook_am.start()
    try:
        await _run(make_worker, am, hook_am, receiver)
    finally:
        am.stop()
        await hook_am.stop()


async def _run(make_worker, alertmanager, hook_am: Receiver, hook_us: Receiver) -> None:
    alertmanager.start(SECTIONS.replace("HOOK", hook_am.url))
    worker = make_worker(SECTIONS.replace("HOOK", hook_us.url) + OURS_ONLY)
    worker.start()
    await asyncio.gather(alertmanager.ready(), worker.ready())
    urls = (alertmanager.url, worker.url)
    async with aiohttp.ClientSession() as http:

        async def post(path: str, payload: Any) -> list[Any]:
            out = []
            for u in urls:
                async with http.post(u + path, json=payload) as r:
                    assert r.status == 200, (u, await r.text())
                    out.append(await r.json() if r.content_length else None)
            return out

        # phase 1: a silence first, then every alert
        sil_am, sil_us = await post("/api/v2/silences", silence_body("Silenced"))
        await post("/api/v2/alerts", body(PHASE1))
        a, b = await settle(hook_am, hook_us, (0, 0))
        assert a == b, _diff(a, b)
        receivers = {k[0] for k in a}
        assert receivers == {"default", "frontend", "pager", "web-team", "db", "maint"}
        names = {x.split("[")[0] for g in a.values() for x in g["firing"]}
        assert "Silenced" not in names  # silenced from the start
        assert sum(1 for g in a.values() for x in g["firing"] if x.startswith("InstanceSlow")) == 1
        assert sum(1 for g in a.values() for x in g["firing"] if x.startswith("ClusterSlow")) == 1
        # maint="yes" is muted by the interval that is always on; "never" is not
        assert [g["firing"] for k, g in a.items() if k[0] == "maint"] == [
            {"Maint" + str(sorted(A(alertname="Maint", maint="never").items()))}
        ]
        sa, sb = await alert_states(http, urls[0]), await alert_states(http, urls[1])
        assert sa == sb, _diff(sa, sb)
        assert sum(1 for v in sa.values() if v[2]) == 2  # silenced
        assert sum(1 for v in sa.values() if v[3]) == 2  # inhibited

        # phase 2: expire the silence, silence MutedThenResolved, resolve sources and a target
        mark = (len(hook_am.requests), len(hook_us.requests))
        for u, sid in zip(urls, (sil_am["silenceID"], sil_us["silenceID"]), strict=True):
            async with http.delete(f"{u}/api/v2/silence/{sid}") as r:
                assert r.status == 200, await r.text()
        await post("/api/v2/silences", silence_body(DIFFERENT))
        await post(
            "/api/v2/alerts",
            body(
                [
                    A(alertname="NodeDown", instance="i1"),
                    A(alertname="HighLatency", service="web", severity="warning"),
                ],
                resolved=True,
            ),
        )
        a, b = await settle(hook_am, hook_us, mark, exclude=DIFFERENT)
        assert a == b, _diff(a, b)
        fired = {x.split("[")[0] for g in a.values() for x in g["firing"]}
        assert {"Silenced", "InstanceSlow"} <= fired
        resolved = {x.split("[")[0] for g in a.values() for x in g["resolved"]}
        assert {"NodeDown", "HighLatency"} <= resolved
        sa, sb = await alert_states(http, urls[0]), await alert_states(http, urls[1])
        assert sa == sb, _diff(sa, sb)

        # phase 3: MutedThenResolved resolves while silenced
        mark = (len(hook_am.requests), len(hook_us.requests))
        await post("/api/v2/alerts", body([A(alertname=DIFFERENT, host="h1")], resolved=True))
        await asyncio.sleep(4)
        got_am = summary(hook_am.requests[mark[0] :])
        got_us = summary(hook_us.requests[mark[1] :])
        # deliberate difference (send_resolved_for_muted): AM drops the resolution, we send it
        assert not any(g["resolved"] for g in got_am.values()), got_am
        assert [k[0] for k, g in got_us.items() if g["resolved"]] == ["default"], got_us
        key = ("default", '{}:{alertname="MutedThenResolved"}')
        assert key in got_us, got_us


def _diff(a: dict, b: dict) -> str:
    lines = []
    for k in sorted(set(a) | set(b), key=str):
        if a.get(k) != b.get(k):
            lines.append(f"{k}:\n  alertmanager: {a.get(k)}\n  alertstream:  {b.get(k)}")
    return "\n".join(lines) or "equal"


def test_harness_compares_label_sets_not_timing():
    one = {"receiver": "x", "groupKey": "k", "groupLabels": {}, "alerts": []}
    one["alerts"] = [{"status": "firing", "labels": {"alertname": "A"}}]
    assert summary([one]) == summary([one, one])  # a repeat changes nothing
    assert summary([one]) != summary([])
