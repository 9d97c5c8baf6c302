"""`alertstream dlq replay` end to end on the embedded broker (issue 11): a receiver
refuses a notification, the worker dead-letters it, and the CLI, run as a subprocess
the way an operator runs it, lists it, keeps it while it still fails, delivers it once
when the receiver is fixed, and then has nothing left to send."""

from __future__ import annotations

import asyncio
import re
import sys
import time
import uuid
from collections import Counter

import orjson
from confluent_kafka import Producer

from app.broker import declare_topics, free_port
from app.client import get_alerts_system
from app.config.loader import load_text
from app.dlq_replay import DlqReplay
from app.settings import Settings
from models.alerting.alert import Alert
from models.dead_letter import NOTIFICATIONS, dead_letter
from models.notify.notification import Notification
from models.protection.fields import SEALED, open_fields
from tables.keys import open_protection
from tests.conftest import ROOT, read_topic

# group_wait 0 and long intervals: one notification per alert, no repeats during the test.
# The delivery policy allows 2 attempts: the worker's defaults would retry a 500 for 300 s,
# so a replay that stops after 2 shows it read the pipelines file's `delivery:`.
PIPELINES = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1h
  repeat_interval: 24h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
delivery:
  retry_initial: 100ms
  retry_max_delay: 200ms
  max_attempts: 2
"""


async def replay(worker, *args: str, broker: str | None = None) -> tuple[int, str, str]:
    """Run `alertstream dlq replay ARGS` against the worker's topics; (exit code, out, err)."""
    env = dict(worker.env)
    if broker:
        env["ALERTSTREAM_BROKER"] = broker
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "dlq",
        "replay",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def listed_ids(out: str, verdict: str) -> list[str]:
    return re.findall(rf"^{verdict}\s+id=(\S+)", out, flags=re.M)


async def test_replay_delivers_a_dead_letter_once_after_the_receiver_is_fixed(
    make_worker, receiver, broker
):
    receiver.status = 400
    worker = make_worker(PIPELINES.format(url=receiver.url))
    worker.start()
    await worker.ready()
    client = get_alerts_system({"broker": broker, "topic_prefix": worker.namespace + "."})
    assert client.send_alert(client.create_alert("DiskFull", tenant_id="acme"))

    # read in a thread: the receiver answers from this loop meanwhile
    letters = await asyncio.to_thread(read_topic, broker, worker.topic("dlq"), 1, 60)
    assert len(letters) == 1, (receiver.requests, worker.log())
    assert SEALED in letters[0] and "item" not in letters[0]  # the item is sealed
    keys = await asyncio.to_thread(open_protection, Settings.from_env(worker.env), 20)
    [letter] = [open_fields(d, keys.unseal) for d in letters]
    assert letter["source"] == "notifications"
    assert letter["reason"] == "rejected", letter
    assert isinstance(letter["at"], float)
    record = letter["item"]
    notification_id = record["notification"]["id"]
    assert record["http_status"] == 400
    assert len(receiver.requests) == 1  # the worker's one attempt: 400 is not retried
    refused = receiver.requests[0]
    assert [a["labels"]["alertname"] for a in refused["alerts"]] == ["DiskFull"]
    worker.stop()  # from here on, every request the receiver gets is the replay's

    # --dry-run lists the letter with its receiver, channel, reason and age; sends nothing
    code, out, err = await replay(worker, "--dry-run")
    assert code == 0, err
    assert listed_ids(out, "would send") == [notification_id], out
    assert "receiver=hook channel=webhook reason=rejected" in out
    assert re.search(r"age=\d+(ms|s|m)", out), out
    assert len(receiver.requests) == 1

    # still failing (500 now): the 2 attempts of the file's policy, then back on dlq
    receiver.status = 500
    code, out, err = await replay(worker)
    assert code == 1, (out, err)
    assert listed_ids(out, "failed") == [notification_id], out
    assert len(receiver.requests) == 1 + 2

    # fixed: delivered exactly once, the request the worker rendered
    receiver.status = 200
    code, out, err = await replay(worker)
    assert code == 0, (out, err)
    assert listed_ids(out, "delivered") == [notification_id], out
    assert "1 dead letters read, 1 delivered, 0 still failing" in out
    assert len(receiver.requests) == 1 + 2 + 1
    assert receiver.requests[-1] == refused

    # nothing is left: a second replay reads nothing and sends nothing
    code, out, err = await replay(worker)
    assert code == 0, (out, err)
    assert "0 dead letters read, 0 delivered" in out
    assert len(receiver.requests) == 1 + 2 + 1


async def test_replay_against_an_unreachable_broker_fails_and_says_so(make_worker, receiver):
    worker = make_worker(PIPELINES.format(url=receiver.url))  # never started: config only
    nobody = f"kafka://127.0.0.1:{free_port()}"
    code, out, err = await replay(worker, "--timeout", "3", broker=nobody)
    assert code == 1
    assert "dead letters read" not in out
    assert f"dlq replay: {worker.topic('dlq')} on {nobody}: the broker did not answer" in err
    assert len(receiver.requests) == 0


def undeliverable(alertname: str) -> dict:
    """A notification dead letter as the worker writes it, minus the rendered request (so
    the replay renders it from the notification)."""
    alert = Alert.from_wire({"labels": {"alertname": alertname}}, "acme")
    notification = Notification(
        id=f"id-{alertname}",
        tenant="acme",
        receiver="hook",
        channel="webhook",
        integration=0,
        group_key=f'{{}}:{{alertname="{alertname}"}}',
        group_labels={"alertname": alertname},
        alerts=[alert.to_webhook(time.time())],
    )
    record = {"reason": "rejected", "notification": notification.to_wire(), "rendered": None}
    return dead_letter(NOTIFICATIONS, "rejected", record)


async def test_replay_keeps_unselected_letters_sends_each_id_once_and_lists_the_rest(
    broker, receiver, tmp_path
):
    prefix = f"t{uuid.uuid4().hex[:8]}."
    topic = prefix + "dlq"
    settings = Settings.from_env(
        {
            "ALERTSTREAM_BROKER": broker,
            "ALERTSTREAM_TOPIC_PREFIX": prefix,
            "ALERTSTREAM_KEYRING": str(tmp_path / "keyring.json"),
        }
    )
    declare_topics(broker, [topic], 2)
    a, b, c = undeliverable("A"), undeliverable("B"), undeliverable("C")
    legacy_c = {"source": NOTIFICATIONS, **c["item"]}  # the shape written before the builder
    reject = dead_letter("metrics", "value: not a number", {"value": "x"})
    producer = Producer({"bootstrap.servers": broker.removeprefix("kafka://")})
    for record in (orjson.dumps([a, b]), orjson.dumps([b]), orjson.dumps(legacy_c)):
        producer.produce(topic, record, b"acme")
    producer.produce(topic, orjson.dumps([reject]), b"acme")
    producer.produce(topic, b"not json", b"acme")
    assert producer.flush(10) == 0
    lines: list[str] = []
    replay = DlqReplay(
        load_text(PIPELINES.format(url=receiver.url)),
        broker,
        topic,
        f"{topic}-replay",
        timeout=20,
        out=lines.append,
        protection=lambda: open_protection(settings, 20),
    )

    def sent() -> Counter[str]:
        return Counter(r["groupLabels"]["alertname"] for r in receiver.requests)

    # --id A: A is sent; B (twice on the topic) and C go back once each; the rest is listed
    assert await asyncio.to_thread(replay.run, "id-A") == 0, lines
    assert sent() == Counter({"A": 1})
    assert lines[-1] == (
        "6 dead letters read, 1 delivered, 0 still failing, 2 not selected (2 written back), "
        "1 duplicates, 2 listed only"
    )
    assert sum(line.startswith("listed") for line in lines) == 2

    lines.clear()
    assert await asyncio.to_thread(replay.run) == 0, lines
    assert sent() == Counter({"A": 1, "B": 1, "C": 1})
    assert lines[-1].startswith("2 dead letters read, 2 delivered, 0 still failing")

    lines.clear()
    assert await asyncio.to_thread(replay.run) == 0, lines
    assert lines == [
        "0 dead letters read, 0 delivered, 0 still failing, 0 not selected (0 written back), "
        "0 duplicates, 0 listed only"
    ]
    assert sent() == Counter({"A": 1, "B": 1, "C": 1})


def test_replay_of_a_topic_that_does_not_exist_fails_and_says_so(broker, capsys):
    topic = f"t{uuid.uuid4().hex[:8]}.dlq"  # never declared: a wrong prefix, say
    config = load_text(PIPELINES.format(url="http://127.0.0.1:9/hook"))
    lines: list[str] = []
    code = DlqReplay(config, broker, topic, f"{topic}-replay", timeout=5, out=lines.append).run()
    assert code == 1
    assert lines == []
    assert (
        f"dlq replay: {topic} on {broker}: topic {topic} cannot be read" in capsys.readouterr().err
    )


async def test_replay_does_not_send_what_the_outbound_policy_refused(receiver):
    """A tenant's letter refused by the outbound policy stays refused on replay; the
    same request of a tenant with no refusal (the operator's receiver) is sent."""
    import aiohttp

    from app.config.deliverer import build_deliverer
    from app.dlq_replay import send_again

    config = load_text(PIPELINES.format(url=receiver.url))
    now = time.time()
    alert = Alert(tenant="acme", labels={"alertname": "Probe"}, starts_at=now)
    n = Notification("n-1", "acme", "hook", "webhook", 0, "{}:{}", {}, [alert.to_webhook(now)])
    async with aiohttp.ClientSession() as session:
        deliverer = build_deliverer(config, session, set_by_tenant=lambda t: True)
        own = await deliverer.deliver(n)
        await deliverer.close()
    refused = own.dead_letter
    assert refused and "refused by the outbound policy" in refused["last_error"]
    other = {**refused, "notification": {**refused["notification"], "tenant": "globex"}}
    again = await send_again(config, [refused, {**other, "last_error": "HTTP 500"}])
    assert [r.status for r in again] == ["dead", "delivered"]
    assert len(receiver.requests) == 1  # globex's replay only
