"""Reading a whole topic on every worker, outside the consumer group.

What every worker must know whatever partitions it owns (the silences, the tenants'
configs) is read from the beginning with a group-less consumer and kept up to date for
ever; ``caught_up`` says when the end offsets seen at start have been reached, so a
starting worker can wait for that state before it acts on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from app.settings import bootstrap_servers

log = logging.getLogger(__name__)

Apply = Callable[[int, bytes | None, bytes | None], Awaitable[None]]
"""Called with (partition, key, value) for each record, in order."""


def groupless_consumer(app: faust.App, broker: str, **options: Any) -> Any:
    """An aiokafka consumer outside the consumer group (its partitions assigned by hand,
    nothing committed), with the app's broker credentials."""
    from aiokafka import AIOKafkaConsumer
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(broker).split(","),
        group_id=None,
        enable_auto_commit=False,
        **credentials_to_aiokafka_auth(app.conf.broker_credentials),
        **options,
    )


async def tail(
    app: faust.App,
    broker: str,
    topic: str,
    apply: Apply,
    caught_up: Callable[[], None],
    max_records: int = 5000,
) -> None:
    """Read every partition of ``topic`` from the beginning for ever; ``caught_up`` is
    called once, when the end offsets seen at start are reached."""
    from aiokafka import TopicPartition

    consumer = groupless_consumer(app, broker)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        while not parts:
            await consumer.client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                await asyncio.sleep(0.5)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if end[tp] > 0}
        if not pending:
            caught_up()
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=max_records)
            for tp, records in batches.items():
                for r in records:
                    await apply(tp.partition, r.key, r.value)
            if pending:
                for tp in list(pending):
                    if await consumer.position(tp) >= end[tp]:
                        pending.discard(tp)
                if not pending:
                    caught_up()
    finally:
        await consumer.stop()


async def tail_forever(
    app: faust.App, broker: str, topic: str, apply: Apply, caught_up: Callable[[], None]
) -> None:
    """``tail`` for as long as the worker runs: on an error, start over from the
    beginning (so ``apply`` must be idempotent, as installing a record again is)."""
    while True:
        try:
            await tail(app, broker, topic, apply, caught_up, 1000)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("following %s failed; restarting", topic)
            await asyncio.sleep(1.0)
