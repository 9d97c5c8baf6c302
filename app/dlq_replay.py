"""`alertstream dlq replay`: send dead-lettered notifications again.

Reads the `dlq` topic as the consumer group ``<app id>-dlq-replay``, re-sends each
notification dead letter's stored request through the same Deliverer the workers use,
and prints one line per dead letter.  A letter that still fails, or that ``--id`` did
not select, is written back to `dlq`, so the next replay offers it again: nothing is
lost.  Records that are not notifications (rejected samples or alerts) are listed,
not replayed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from app.client import bootstrap_servers, security_config
from app.config.schema import PipelinesConfig
from channels.delivery import Deliverer


def read_dead_letters(
    broker: str, topic: str, group: str, credentials: str = "", idle: float = 3.0
) -> tuple[Consumer, list[tuple[TopicPartition, dict[str, Any]]]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers(broker),
            **security_config(credentials),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out: list[tuple[TopicPartition, dict[str, Any]]] = []
    last = time.monotonic()
    while time.monotonic() - last < idle:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        last = time.monotonic()
        tp = TopicPartition(msg.topic(), msg.partition(), msg.offset() + 1)
        try:
            items = orjson.loads(msg.value())
        except orjson.JSONDecodeError:
            continue
        for item in items if isinstance(items, list) else [items]:
            out.append((tp, item))
    return consumer, out


async def replay(
    config: PipelinesConfig, letters: list[dict[str, Any]], only_id: str | None
) -> list[tuple[dict[str, Any], str]]:
    results: list[tuple[dict[str, Any], str]] = []
    async with aiohttp.ClientSession() as session:
        deliverer = Deliverer({r.name: r for r in config.receivers}, session)
        for letter in letters:
            notification = letter.get("notification")
            if not isinstance(notification, dict):
                results.append((letter, "skipped: not a notification"))
                continue
            if only_id and notification.get("id") != only_id:
                results.append((letter, "skipped: not selected"))
                continue
            receipt = await deliverer.replay(letter)
            results.append(
                (
                    letter,
                    receipt.status + (f" ({receipt.last_error})" if receipt.last_error else ""),
                )
            )
    return results


def run_replay(
    config: PipelinesConfig,
    broker: str,
    topic: str,
    group: str,
    only_id: str | None,
    credentials: str = "",
) -> int:
    consumer, letters = read_dead_letters(broker, topic, group, credentials)
    results = asyncio.run(replay(config, [letter for _, letter in letters], only_id))
    failed = 0
    for letter, outcome in results:
        n = letter.get("notification") or {}
        what = (
            f"{n.get('receiver')}/{n.get('channel')} id={n.get('id')}"
            if n
            else f"{letter.get('source')}: {letter.get('reason')}"
        )
        print(f"{outcome:40} {what}")
        failed += outcome.startswith(("failed", "dead"))
    again = [
        letter
        for letter, outcome in results
        if outcome.startswith(("failed", "dead", "skipped: not selected"))
    ]
    if again:
        producer = Producer(
            {"bootstrap.servers": bootstrap_servers(broker), **security_config(credentials)}
        )
        for letter in again:
            tenant = str((letter.get("notification") or {}).get("tenant", ""))
            producer.produce(topic, orjson.dumps([letter]), tenant.encode())
        if producer.flush(30):
            print("could not write the remaining dead letters back; offsets not committed")
            consumer.close()
            return 1
    if letters:
        offsets: dict[tuple[str, int], TopicPartition] = {}
        for tp, _ in letters:
            offsets[(tp.topic, tp.partition)] = tp
        consumer.commit(offsets=list(offsets.values()), asynchronous=False)
    consumer.close()
    print(f"{len(results)} dead letters read, {failed} still failing")
    return 1 if failed else 0
