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

import asyncio
import logging
import time
from typing import NamedTuple

import faust

from app.settings import bootstrap_servers
from tables.store import PartitionStore

log = logging.getLogger(__name__)

READ_TIMEOUT = 30.0  # seconds to read a gap back before giving up on the rest of it


class Record(NamedTuple):
    offset: int
    key: bytes | None
    value: bytes | None


class OffsetGuard:
    """The next expected offset per (topic, partition), kept in ``store`` (partition p
    of the store holds every input topic's partition p, keyed by topic name)."""

    def __init__(self, app: faust.App, store: PartitionStore, broker: str) -> None:
        self.app = app
        self.store = store
        self.broker = broker
        self.recovered = 0  # records read back (reported in the log; tests read it there)

    async def skipped(self, topic: str, partition: int, offset: int) -> list[Record]:
        """The records of ``partition`` between the expected offset and ``offset`` that
        the consumer did not hand over (empty in the normal case)."""
        expected = self.store.get(partition, topic)
        if expected is None or offset <= expected:
            return []
        records = await self._read(topic, partition, expected, offset)
        self.recovered += len(records)
        log.warning(
            "%s[%d]: the consumer skipped offsets %d..%d; read %d records back",
            topic,
            partition,
            expected,
            offset - 1,
            len(records),
        )
        return records

    def handled(self, topic: str, partition: int, offset: int) -> None:
        """Stage the next expected offset (written with the agent's next batch commit)."""
        self.store.put(partition, topic, offset + 1)

    async def _read(self, topic: str, partition: int, start: int, end: int) -> list[Record]:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(self.broker).split(","),
            group_id=None,
            enable_auto_commit=False,
            max_partition_fetch_bytes=self.app.conf.consumer_max_fetch_size,
            **credentials_to_aiokafka_auth(self.app.conf.broker_credentials),
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
                        records.append(Record(m.offset, m.key, m.value))
                if await consumer.position(tp) >= end:
                    break
            else:
                log.error("%s[%d]: gave up reading back %d..%d", topic, partition, start, end)
        except asyncio.CancelledError:
            raise
        finally:
            await consumer.stop()
        return records
