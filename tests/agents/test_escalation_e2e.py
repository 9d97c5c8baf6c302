"""Escalation end to end, one worker on the broker, three loopback receivers.

Policy ``chain``: page hook-a, wait 1.5 s, page hook-b, wait 1.5 s, page hook-c. The route
notifies no receiver of its own (``none``): only the policy pages.

1. Ten groups escalate a -> b -> c; each step arrives once, in order, at its time
   (step lateness, arrival at the receiver minus the step's due time, reported).
2. A group acknowledged through the Slack interactivity endpoint right after its first
   page, and one through a signed action link (a forged link is refused), are never
   paged again: checked once the groups that started with them have been paged by b
   and c (the same path, later).
Policy ``people`` (another route): a team's members with the skill the alert's
``component`` label names, in turn (round robin), each paged by Slack direct message
built from their contact methods.

Then a reassign and a snooze through the HTTP API page hook-c again (at once, and
when the snooze ends), and a reassign without ``to`` is refused with 422.

3. kill -9 between steps: a group paged by a, the worker killed and restarted on the
   same data dir; b and c then page it exactly once, and a not again.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from app.client import get_alerts_system
from benchmarks.peers import WebhookReceiver
from channels.slack_interactions import sign
from models.escalation.tokens import link_claims
from models.escalation.tokens import sign as sign_link
from tests.conftest import eventually

SECRET = "e2e-slack-signing-secret"
LINK_KEY = b"e2e-action-link-key"
WAIT = 1.5
PIPELINES = f"""
route:
  receiver: none
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 4h
  escalation: chain
  routes:
    - matchers: ['team="dba"']
      escalation: people
receivers:
  - name: none
  - name: hook-a
    webhook_configs: [{{url: "${{HOOK_A}}"}}]
  - name: hook-b
    webhook_configs: [{{url: "${{HOOK_B}}"}}]
  - name: hook-c
    webhook_configs: [{{url: "${{HOOK_C}}"}}]
escalation_policies:
  - name: chain
    steps:
      - notify: {{receivers: [hook-a]}}
        wait: {int(WAIT * 1000)}ms
      - notify: {{receivers: [hook-b]}}
        wait: {int(WAIT * 1000)}ms
      - notify: {{receivers: [hook-c]}}
  - name: people
    steps:
      - notify: {{team: dba, pick: round_robin, skills: ["{{{{ .Labels.component }}}}"]}}
oncall:
  users:
    - {{name: alice, slack_id: UALICE, skills: [pg]}}
    - {{name: bob, slack_id: UBOB, skills: [PG, kafka]}}
    - {{name: carol, slack_id: UCAROL, skills: [kafka]}}
  teams:
    - {{name: dba, members: [alice, bob, carol]}}
escalation_contacts:
  slack: {{api_url: "${{HOOK_D}}"}}
"""


def key(name: str) -> str:
    return '{}:{alertname="' + name + '"}'


def pages(r: WebhookReceiver) -> Counter[str]:
    return Counter(a.group_key for a in r.arrivals)


def first(r: WebhookReceiver, group: str) -> float | None:
    return next((a.at for a in r.arrivals if a.group_key == group), None)


def click(group: str) -> tuple[bytes, dict[str, str]]:
    value = {"action": "ack", "tenant": "acme", "group_key": group}
    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "username": "ada"},
        "actions": [{"action_id": "alertstream_ack", "value": orjson.dumps(value).decode()}],
    }
    body = urlencode({"payload": orjson.dumps(payload).decode()}).encode()
    now = str(int(time.time()))
    return body, {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": sign(SECRET, now, body)}


async def escalation(url: str, group: str) -> dict:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            url + f"/api/v1/groups/{quote(group, safe='')}/escalation", params={"tenant": "acme"}
        ) as r,
    ):
        assert r.status == 200, await r.text()
        return (await r.json())["data"]


async def test_escalation_steps_ack_and_kill(make_worker, broker):
    hooks = {n: WebhookReceiver() for n in "abcd"}
    for h in hooks.values():
        await h.start()
    a, b, c, d = hooks["a"], hooks["b"], hooks["c"], hooks["d"]
    env = {f"HOOK_{n.upper()}": h.url for n, h in hooks.items()}
    env |= {"ALERTSTREAM_TICK": "0.1", "ALERTSTREAM_SLACK_SIGNING_SECRET": SECRET}
    env |= {"ALERTSTREAM_ACTION_LINK_KEY": LINK_KEY.decode()}
    worker = make_worker(PIPELINES, env)
    worker.start()
    try:
        await worker.ready()
        client = get_alerts_system({"broker": broker, "topic_prefix": worker.namespace + "."})

        def fire(*names: str, **labels: str) -> None:
            ends = time.time() + 3600
            batch = [
                {"labels": {"alertname": n, "tenant": "acme", **labels}, "ends_at": ends}
                for n in names
            ]
            client.producer.produce(worker.topic("alerts"), orjson.dumps(batch), b"acme")
            assert client.producer.flush(10) == 0

        steady = [f"Steady{i}" for i in range(10)]
        fire(*steady, "Acked", "Linked")
        fire(*(f"Team{i}" for i in range(4)), team="dba", component="pg")
        acked, linked = key("Acked"), key("Linked")
        assert await eventually(lambda: first(a, acked) and first(a, linked), 60), worker.log()
        body, headers = click(acked)
        token = sign_link(LINK_KEY, link_claims("ack", "acme", linked, "bob", time.time() + 60))
        forged = sign_link(b"not-the-key", link_claims("ack", "acme", linked, "eve", 2e9))
        async with aiohttp.ClientSession() as http:
            url = worker.url + "/api/v1/slack/interactions"
            async with http.post(url, data=body, headers=headers) as r:
                assert r.status == 200, await r.text()
            async with http.get(worker.url + "/api/v1/actions/" + forged) as r:
                assert r.status == 403, await r.text()
            async with http.get(worker.url + "/api/v1/actions/" + token) as r:
                assert r.status == 200, await r.text()

        # 1. every steady group climbs a -> b -> c, one page per step
        def climbed() -> bool:
            return all(first(c, key(n)) for n in steady)

        assert await eventually(climbed, 30), (pages(a), pages(b), pages(c), worker.log())
        lateness = []  # arrival at the receiver - the step's due time (from the audit)
        for n in steady:
            t0, t1, t2 = (first(h, key(n)) for h in (a, b, c))
            assert t0 is not None and t1 is not None and t2 is not None
            assert t1 - t0 >= WAIT - 0.2 and t2 - t1 >= WAIT - 0.2, (t0, t1, t2)
            state = await escalation(worker.url, key(n))
            due = {x["step"]: x["at"] for x in state["actions"] if x["action"] == "notify"}
            assert sorted(due) == [0, 1, 2] and state["status"] == "exhausted", state
            lateness += [t - due[i] for i, t in enumerate((t0, t1, t2))]

        # 2. the acknowledged group: paged by a only (b and c have paged groups of the
        # same start since, so its steps would have come by now)
        state = await escalation(worker.url, acked)
        assert state["status"] == "acknowledged" and state["acked_by"] == "ada", state
        by_link = await escalation(worker.url, linked)
        assert by_link["status"] == "acknowledged" and by_link["acked_by"] == "bob", by_link
        assert [x["action"] for x in state["actions"]].count("cancelled") == 2, state

        # the team's people with the alert's skill, in turn, by Slack direct message
        assert await eventually(lambda: len(d.requests) >= 4, 20), (d.requests, worker.log())
        assert Counter(doc["channel"] for doc in d.requests) == {"UALICE": 2, "UBOB": 2}

        # reassign and snooze through the API: the reassigned group pages hook-c at once,
        # the snoozed (exhausted) one pages its last level, hook-c, again after 1 s
        async with aiohttp.ClientSession() as http:
            base = worker.url + "/api/v1/groups/"
            url = base + quote(key("Steady0"), safe="") + "/reassign"
            async with http.post(url, json={"tenant": "acme", "user": "ada"}) as r:
                assert r.status == 422 and "to: required" in await r.text()
            async with http.post(url, json={"tenant": "acme", "to": "hook-c", "user": "ada"}) as r:
                assert r.status == 202, await r.text()
            url = base + quote(key("Steady1"), safe="") + "/snooze"
            async with http.post(url, json={"duration": 1}, headers={"X-Scope-OrgID": "acme"}) as r:
                assert r.status == 202, await r.text()

        # 3. kill -9 between steps
        fire("Crash")
        crash = key("Crash")
        assert await eventually(lambda: first(a, crash), 30), worker.log()
        worker.kill()
        killed_at = time.time()
        worker.start()
        await worker.ready()
        assert await eventually(lambda: first(c, crash), 60), (pages(b), pages(c), worker.log())
        await asyncio.sleep(0.5)  # a duplicate would come with the same tick

        again = {"Steady0": 2, "Steady1": 2}  # reassigned, snoozed
        assert await eventually(lambda: all(pages(c)[key(n)] == 2 for n in again), 30), (
            pages(c),
            worker.log(),
        )
        for n in [*steady, "Crash"]:
            want = (1, 1, again.get(n, 1))
            assert (pages(a)[key(n)], pages(b)[key(n)], pages(c)[key(n)]) == want, n
        reassigned = await escalation(worker.url, key("Steady0"))
        assert reassigned["assignee"] == "hook-c", reassigned
        audit = reassigned["actions"]
        assert any(x["action"] == "reassign" and x.get("who") == "ada" for x in audit), audit
        for done in (acked, linked):
            assert (pages(a)[done], pages(b)[done], pages(c)[done]) == (1, 0, 0), done
        payload = next(doc for doc in c.requests if doc["groupKey"] == crash)
        assert payload["notification_reason"] == "escalation"
        assert payload["alerts"][0]["labels"]["alertname"] == "Crash"
        lateness.sort()
        p50 = statistics.median(lateness)
        p99 = lateness[min(len(lateness) - 1, int(len(lateness) * 0.99))]
        print(
            f"step lateness over {len(lateness)} steps: p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms; after the kill, b paged "
            f"{first(b, crash) - killed_at:.1f} s after the kill (restart included)"
        )
    finally:
        worker.kill()  # its state is not needed again: no graceful stop (~8 s)
        for h in hooks.values():
            await h.stop()
