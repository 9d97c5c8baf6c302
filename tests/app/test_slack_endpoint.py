"""The worker's Slack interactivity endpoint: signatures checked, clicks become commands."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

import aiohttp
import orjson
from conftest import read_topic

from channels.slack_interactions import sign

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PIPELINES = """
route: {receiver: hook}
receivers: [{name: hook, webhook_configs: [{url: "http://127.0.0.1:9/hook"}]}]
"""


def click(action: str) -> bytes:
    value = {"action": action, "tenant": "acme", "group_key": '{}:{alertname="X"}'}
    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "username": "ada"},
        "actions": [{"action_id": f"alertstream_{action}", "value": orjson.dumps(value).decode()}],
    }
    return urlencode({"payload": orjson.dumps(payload).decode()}).encode()


async def test_forged_and_stale_clicks_are_refused_and_a_valid_one_is_a_command(
    make_worker, broker
):
    worker = make_worker(PIPELINES, {"ALERTSTREAM_SLACK_SIGNING_SECRET": SECRET})
    worker.start()
    await worker.ready()
    url = worker.url + "/api/v1/slack/interactions"
    body = click("ack")
    now = str(int(time.time()))
    async with aiohttp.ClientSession() as http:
        forged = {
            "X-Slack-Request-Timestamp": now,
            "X-Slack-Signature": sign("not-the-secret", now, body),
        }
        async with http.post(url, data=body, headers=forged) as r:
            assert r.status == 401
        old = str(int(time.time()) - 600)
        stale = {"X-Slack-Request-Timestamp": old, "X-Slack-Signature": sign(SECRET, old, body)}
        async with http.post(url, data=body, headers=stale) as r:
            assert r.status == 401
        good = {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": sign(SECRET, now, body)}
        async with http.post(url, data=body, headers=good) as r:
            assert r.status == 200, await r.text()
            assert "ack by ada" in (await r.json())["text"]

    commands = read_topic(broker, worker.topic("commands"), want=1)
    await asyncio.sleep(1)
    commands = read_topic(broker, worker.topic("commands"), want=2, timeout=3)
    assert len(commands) == 1  # the forged and the stale clicks changed nothing
    assert commands[0]["op"] == "ack" and commands[0]["user"] == "ada"
    assert commands[0]["tenant"] == "acme"
