"""Data protection end to end (issue 16) on the embedded broker, one worker process:
receiver secrets read from ``*_file``s never reach a topic in clear (dead letters and
receipts are sealed), keys rotate while alerts flow without losing or locking out
anything, the worker picks the new KEK up, and ``dlq replay`` delivers after it."""

from __future__ import annotations

import argparse
import asyncio
import base64

import aiohttp
import orjson

from app import keys_cli
from app.client import get_alerts_system
from app.config.loader import load_file
from app.dlq_replay import DlqReplay
from app.settings import Settings
from benchmarks.peers import WebhookReceiver
from models.dead_letter import undelivered
from models.protection import envelope
from models.protection.fields import SEALED, open_fields
from tables.kafka_clients import client_config, read_to_end
from tables.keys import open_protection
from tests.conftest import eventually

PASSWORD = "pw-Tr0ub4dor-3"
TOKEN = "tok-8c1f0e5d"
PIPELINES = """
route:
  receiver: good
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1h
  repeat_interval: 24h
  routes:
    - receiver: locked
      matchers: ['dest="locked"']
receivers:
  - name: good
    webhook_configs:
      - url: {good}
  - name: locked
    webhook_configs:
      - url_file: hook_url
        http_config:
          basic_auth: {{username: ops, password_file: hook_password}}
delivery:
  retry_initial: 100ms
  retry_max_delay: 200ms
  max_attempts: 1
"""
TENANT_CONFIG = """
route: {{receiver: own}}
receivers:
  - name: own
    webhook_configs:
      - url: {url}
"""
CONFIG_TOKEN = "cfg-5e7a11d0"
LOAD = 200  # alerts (one notification each) sent while the keys rotate


Record = tuple[bytes, bytes]


def raw_records(settings: Settings, name: str) -> list[Record]:
    """Every (key, value) of a topic, as the broker holds it (no decoding)."""
    out: list[Record] = []
    read_to_end(
        client_config(settings.broker, settings.broker_credentials),
        settings.topic_prefix + name,
        lambda k, v: out.append((k or b"", v or b"")),
        20,
    )
    return out


def items(records: list[Record], tenant: str | None = None) -> list[dict]:
    """The JSON items of the records (of one tenant's key)."""
    out: list[dict] = []
    for key, value in records:
        if tenant is None or key == tenant.encode():
            doc = orjson.loads(value)
            out += doc if isinstance(doc, list) else [doc]
    return out


async def test_secrets_sealed_keys_rotated_under_load_and_replay_after_rotation(
    make_worker, receiver, broker, tmp_path, monkeypatch
):
    locked = WebhookReceiver(status=400)
    await locked.start()
    (tmp_path / "hook_url").write_text(f"{locked.url}?token={TOKEN}\n")
    (tmp_path / "hook_password").write_text(PASSWORD + "\n")
    worker = make_worker(PIPELINES.format(good=receiver.url))
    settings = Settings.from_env(worker.env)
    for var in ("ALERTSTREAM_BROKER", "ALERTSTREAM_TOPIC_PREFIX", "ALERTSTREAM_PIPELINES"):
        monkeypatch.setenv(var, worker.env[var])
    worker.start()
    try:
        await worker.ready()
        client = get_alerts_system({"broker": broker, "topic_prefix": worker.namespace + "."})
        labels = {"dest": "locked"}
        assert client.send_alert(client.create_alert("Locked", tenant_id="acme", labels=labels))

        # the refused notification is a dead letter; nothing of the secrets is in clear
        async def dead_letters(n: int) -> list[Record]:
            found = await asyncio.to_thread(raw_records, settings, "dlq")
            return found if len(items(found)) >= n else []

        letters = await eventually(lambda: dead_letters(1), 30)
        assert len(items(letters)) == 1, worker.log()
        basic = base64.b64encode(f"ops:{PASSWORD}".encode())
        receipts = await asyncio.to_thread(raw_records, settings, "notifications.receipts")
        assert receipts, worker.log()
        everything = b"".join(k + v for k, v in letters + receipts)
        for secret in (PASSWORD.encode(), TOKEN.encode(), basic, f":{locked.port}".encode()):
            assert secret not in everything, secret
        # ...but they are there, sealed: the letter opens to the request the worker rendered
        keys = await asyncio.to_thread(open_protection, settings, 20)
        [letter] = [open_fields(d, keys.unseal) for d in items(letters)]
        request = undelivered(letter)["rendered"]
        assert request["headers"]["Authorization"] == f"Basic {basic.decode()}"
        assert TOKEN in request["url"]

        # a tenant's own config (its receivers' secrets inline) is sealed on `config` too,
        # and the worker installs it: it opens the record it reads back
        own = TENANT_CONFIG.format(url=f"http://127.0.0.1:9/hook?token={CONFIG_TOKEN}")
        async with aiohttp.ClientSession() as http:
            async with http.put(f"{worker.url}/api/v1/config/initech", data=own) as r:
                put = await r.json()
            assert r.status == 200 and put["data"]["applied"], put
            async with http.get(f"{worker.url}/api/v1/config/initech") as r:
                assert (await r.json())["data"]["text"] == own
        versions = await asyncio.to_thread(raw_records, settings, "config")
        assert len(versions) == 1 and CONFIG_TOKEN.encode() not in versions[0][1]
        assert SEALED in orjson.loads(versions[0][1])
        old_kek = keys.status()["current_kek"]

        # rotation under load: alerts flow while `keys rotate` runs
        async def load() -> None:
            for batch in range(10):
                names = [f"Load{batch * 20 + i}" for i in range(LOAD // 10)]
                assert client.send_alerts([client.create_alert(n, tenant_id="acme") for n in names])
                await asyncio.sleep(0.15)

        cli = argparse.ArgumentParser()
        keys_cli.register(cli.add_subparsers())
        args = cli.parse_args(["keys", "rotate"])
        flowing = asyncio.create_task(load())
        await asyncio.sleep(0.3)
        assert await asyncio.to_thread(keys_cli.command, args) == 0
        await flowing
        want = {f"Load{i}" for i in range(LOAD)}

        def notified() -> set[str]:
            return {r["groupLabels"]["alertname"] for r in receiver.requests} & want

        assert await eventually(lambda: notified() == want, 60), (
            len(notified()),
            worker.log(),
        )
        assert len([r for r in receiver.requests if r["groupLabels"]["alertname"] in want]) == LOAD

        # the worker seals under the new KEK: a new tenant's key is wrapped by it
        assert client.send_alert(client.create_alert("Locked", tenant_id="globex", labels=labels))
        letters = await eventually(lambda: dead_letters(2), 30)
        assert len(items(letters)) == 2, worker.log()
        after = await asyncio.to_thread(open_protection, settings, 20)
        status = after.status()
        assert status["current_kek"] != old_kek
        # every data key is wrapped by the new KEK; the old one wraps none
        assert {k["id"]: k["data_keys"] for k in status["keks"]} == {
            old_kek: 0,
            status["current_kek"]: status["data_keys"],
        }
        [globex] = items(letters, "globex")
        assert envelope.header(base64.b64decode(globex[SEALED])).kek_id == status["current_kek"]

        # nothing unreadable: every receipt written before, during and after opens
        receipts = await asyncio.to_thread(raw_records, settings, "notifications.receipts")
        opened = [open_fields(r, after.unseal) for r in items(receipts)]
        delivered = {r["notification_id"] for r in opened if r["status"] == "delivered"}
        assert len(delivered) >= LOAD
        assert all(r["destination"] for r in opened if r["status"] == "delivered")

        # dlq replay after the rotation: both letters delivered, with the file's secrets
        locked.status = 200
        lines: list[str] = []
        replay = DlqReplay(
            load_file(tmp_path / "pipelines.yaml"),
            broker,
            settings.topic_prefix + "dlq",
            f"{worker.namespace}-replay",
            timeout=20,
            out=lines.append,
            protection=lambda: open_protection(settings, 20),
        )
        assert await asyncio.to_thread(replay.run) == 0, lines
        assert lines[-1].startswith("2 dead letters read, 2 delivered, 0 still failing"), lines
        replayed = locked.headers[-2:]
        assert [h["Authorization"] for h in replayed] == [f"Basic {basic.decode()}"] * 2
    finally:
        await locked.stop()
