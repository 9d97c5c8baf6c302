"""Records the consumer skipped, read back from the broker.

Faust's consumer can drop a record it has already fetched when its flow is suspended,
or when its fetcher runs while recovery seeks the stream partitions to their committed
offsets (faust-streaming #216 and #221 are of this family). It then counts the record as
a gap and commits past it, so the record is never seen again. Our kill -9 test caught
it: a restarted sender was handed offsets 0, 1, 3 of a partition, and the 817
notifications of offset 2 were never sent.

So each agent that must see every record keeps the next offset it expects per input
partition, durably beside its state (written by the same batch commit, so it is never
ahead of what was handled). A record past that offset means the ones between were
skipped: they are read back with a group-less consumer and handled first, in order.
A record before it is a re-delivery after a restart, which the agents already handle
idempotently.
"""

from __future__ import annotations

import logging
import time
from typing import Any, NamedTuple

import faust

from agents.topic_tail import groupless_consumer
from tables.store import PartitionStore

log = logging.getLogger(__name__)

READ_TIMEOUT = 30.0  # seconds to read a gap back before giving up on the rest of it


class Record(NamedTuple):
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any = ()  # (name, bytes) pairs: a trace context travels in them
    timestamp: float | None = None  # the record's time, in seconds


class OffsetGuard:
    """The next expected offset per (topic, partition), kept in ``store`` (partition p
    of the store holds every input topic's partition p, keyed by topic name)."""

    def __init__(self, app: faust.App, store: PartitionStore, broker: str) -> None:
        self.app = app
        self.store = store
        self.broker = broker

    async def records(self, topic: str, message: Any) -> list[Record]:
        """What to handle for a consumed ``message``, in order: the records of its
        partition the consumer skipped before it (none in the normal case), then it."""
        partition, offset = message.partition, message.offset
        here = Record(offset, message.key, message.value, message.headers, message.timestamp)
        expected = self.store.get(partition, topic)
        if expected is None or offset <= expected:
            return [here]
        records = await self.read(topic, partition, expected, offset)
        log.warning(
            "%s[%d]: the consumer skipped offsets %d..%d; read %d records back",
            topic,
            partition,
            expected,
            offset - 1,
            len(records),
        )
        return [*records, here]

    def handled(self, topic: str, partition: int, offset: int) -> None:
        """Stage the next expected offset (written with the agent's next batch commit)."""
        self.store.put(partition, topic, offset + 1)

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Record]:
        """The records at offsets [start, end) of a partition, in order (fewer if they
        cannot be read within ``READ_TIMEOUT``)."""
        from aiokafka import TopicPartition

        consumer = groupless_consumer(
            self.app,
            self.broker,
            max_partition_fetch_bytes=self.app.conf.consumer_max_fetch_size,
        )
        await consumer.start()
        tp = TopicPartition(topic, partition)
        records: list[Record] = []
        try:
            consumer.assign([tp])
            consumer.seek(tp, start)
            deadline = time.monotonic() + READ_TIMEOUT
            while time.monotonic() < deadline:
                batches = await consumer.getmany(tp, timeout_ms=500)
                for m in batches.get(tp, []):
                    if start <= m.offset < end:
                        records.append(
                            Record(m.offset, m.key, m.value, m.headers, m.timestamp / 1000)
                        )
                if await consumer.position(tp) >= end:
                    break
            else:
                log.error("%s[%d]: gave up reading back %d..%d", topic, partition, start, end)
        finally:
            await consumer.stop()
        return records
