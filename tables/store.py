"""Partition-addressed RocksDB state, written per batch, changelogged through the C producer.

Why not ``table[key] = value``: Faust finds the partition from the current stream event
(so a timer cannot write), and every write builds a ``FutureMessage`` for the changelog
(~29 µs each; 40% of the alert path when it wrote per key).  Here:

* the caller names the partition and *stages* writes (``put``/``delete``); a later
  write of the same key in the same batch replaces the earlier one;
* ``Checkpoint.commit_batch()`` (end of every input record and timer pass) writes each
  partition's staged keys to RocksDB in one ``WriteBatch`` and hands one changelog record
  per changed key to confluent-kafka's producer (C, ~1 µs a record, sent in the
  background in large compressed requests);
* ``Checkpoint.checkpoint()`` runs just before Faust commits input offsets (a sensor):
  it waits for every changelog record to be acknowledged and then records the
  changelog offset in each partition's RocksDB, so a restart replays only the tail.

Recovery is Faust's own: records are raw key/value pairs on the table's compacted
changelog topic.  Local RocksDB is written before the changelog is acknowledged, so it
is authoritative for this worker's writes (kill -9 and restart on the same disk loses
nothing); input offsets are committed only after the changelog is acknowledged, so a
worker that takes the partition over elsewhere never misses a committed effect.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import faust
import orjson
from confluent_kafka import Producer
from faust.types import TP
from rocksdict import WriteBatch

from app.settings import Settings, bootstrap_servers, security_config
from models.wire import pack_chunks
from tables.rocksdb_memory import RocksDBMemory

log = logging.getLogger(__name__)

_DELETE = None


class Checkpoint:
    """The worker's C producers and every store's staged writes.

    Two producers: one for what must be acknowledged before input offsets are committed
    (changelog records, history events; small, so the wait at a commit is short), one
    for notifications (large under a storm), which the alert path awaits itself before
    it logs them as sent, without blocking the event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stores: list[PartitionStore] = []
        self.memory = RocksDBMemory(settings.rocksdb_memory_mb)  # shared by every store
        self._state: Producer | None = None
        self._bulk: Producer | None = None
        self._acked: dict[tuple[str, int], int] = {}  # (topic, partition) -> offset
        self._failed: list[str] = []
        self._bulk_failed: list[str] = []

    def _new_producer(self) -> Producer:
        return Producer(
            {
                "bootstrap.servers": bootstrap_servers(self.settings.broker),
                **security_config(self.settings.broker_credentials),
                "linger.ms": 5,
                "batch.size": 1_000_000,
                "compression.type": "lz4",
                "acks": "all",
                "enable.idempotence": False,
                "queue.buffering.max.messages": 2_000_000,
                "message.max.bytes": 8 * 1024 * 1024,  # one notification may be large
                # the Java client's partitioner, as Faust's producer and our client use
                "partitioner": "murmur2_random",
            }
        )

    @property
    def producer(self) -> Producer:
        """The state producer (changelogs, history)."""
        if self._state is None:
            self._state = self._new_producer()
        return self._state

    @property
    def bulk(self) -> Producer:
        """The notifications producer."""
        if self._bulk is None:
            self._bulk = self._new_producer()
        return self._bulk

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._failed.append(f"{msg.topic()}[{msg.partition()}]: {err}")
            return
        key = (msg.topic(), msg.partition())
        if msg.offset() > self._acked.get(key, -1):
            self._acked[key] = msg.offset()

    def _on_output(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._failed.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    def _on_bulk(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._bulk_failed.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    def produce(self, topic: str, key: bytes | None, items: list[Any], bulk: bool = False) -> None:
        """Send items to a topic as JSON-array records of bounded size, through a C
        producer (compression and I/O off the event loop). State outputs are
        acknowledged by the next checkpoint, before the input that caused them is
        committed; ``bulk`` ones (notifications) when ``delivered()`` says so."""
        self.produce_encoded(topic, key, [orjson.dumps(i) for i in items], bulk)

    def produce_encoded(
        self,
        topic: str,
        key: bytes | None,
        encoded: list[bytes],
        bulk: bool = False,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """``produce`` for items already encoded as JSON (``headers`` on every record:
        a trace context)."""
        producer, callback = (
            (self.bulk, self._on_bulk) if bulk else (self.producer, self._on_output)
        )
        for chunk in pack_chunks(encoded):
            while True:
                try:
                    producer.produce(topic, chunk, key, on_delivery=callback, headers=headers)
                    break
                except BufferError:  # queue full: let librdkafka send some
                    producer.poll(0.05)

    async def delivered(self, warn_after: float = 10.0) -> None:
        """Wait until every notification handed to ``produce(bulk=True)`` is
        acknowledged, without blocking the event loop. Raises if one failed."""
        producer = self.bulk
        waited = 0.0
        while producer.flush(0) > 0:
            await asyncio.sleep(0.002)
            waited += 0.002
            if waited >= warn_after:
                log.warning("waiting %.0f s for the broker to acknowledge records", waited)
                warn_after *= 2
        if self._bulk_failed:
            failed, self._bulk_failed = self._bulk_failed[:5], []
            raise RuntimeError(f"notifications not delivered: {failed}")

    def commit_batch(self) -> int:
        """Write every store's staged keys (one WriteBatch per partition) and queue their
        changelog records. Returns how many keys were written."""
        n = 0
        for store in self.stores:
            n += store._write_staged()
        if n:
            self.producer.poll(0)  # serve delivery callbacks
        return n

    def checkpoint(self, timeout: float = 30.0) -> None:
        """Wait until every queued changelog record is acknowledged, then remember the
        changelog offsets in RocksDB. Raises if a record could not be delivered."""
        self.commit_batch()
        if self._state is None:
            return
        left = self._state.flush(timeout)
        if left:
            raise RuntimeError(f"checkpoint: {left} changelog records not acknowledged")
        if self._failed:
            failed, self._failed = self._failed[:5], []
            raise RuntimeError(f"checkpoint: changelog records failed: {failed}")
        for store in self.stores:
            store._remember_offsets(self._acked)


class CheckpointSensor(faust.Sensor):
    """Runs the checkpoint right before Faust commits input offsets (synchronously, so the
    offsets Faust then commits are all covered by acknowledged changelog records)."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__()
        self._checkpoint = checkpoint

    def on_commit_initiated(self, consumer: Any) -> Any:
        self._checkpoint.checkpoint()


class PartitionStore:
    """One changelogged RocksDB table, keyed by str, holding JSON values."""

    def __init__(
        self,
        app: faust.App,
        checkpoint: Checkpoint,
        name: str,
        *,
        help: str,
    ) -> None:
        self.table = app.Table(
            name,
            key_type=bytes,
            value_type=bytes,
            help=help,
            # small memtables: a worker holds many partition DBs (tables x partitions);
            # the cache and the memtables' total are shared (tables/rocksdb_memory.py)
            options={
                "write_buffer_size": 4 * 1024 * 1024,
                "max_write_buffer_number": 2,
            },
        )
        checkpoint.memory.adopt(self.table)
        self._checkpoint = checkpoint
        checkpoint.stores.append(self)
        self._staged: defaultdict[int, dict[bytes, bytes | None]] = defaultdict(dict)

    def _db(self, partition: int) -> Any:
        return self.table.data._db_for_partition(partition)  # type: ignore[attr-defined]

    @property
    def topic(self) -> str:
        return self.table.changelog_topic.get_topic_name()

    # --- writes (staged until the batch is committed) ---------------------------------
    def put(self, partition: int, key: str, value: Any) -> None:
        self._staged[partition][key.encode()] = orjson.dumps(value)

    def delete(self, partition: int, key: str) -> None:
        self._staged[partition][key.encode()] = _DELETE

    # --- reads (see staged writes first) ------------------------------------------------
    def get(self, partition: int, key: str) -> Any:
        raw_key = key.encode()
        staged = self._staged.get(partition)
        if staged is not None and raw_key in staged:
            raw = staged[raw_key]
        else:
            raw = self._db(partition).get(raw_key)
        return None if raw is None else orjson.loads(raw)

    def scan(self, partition: int, prefix: str) -> Iterator[tuple[str, Any]]:
        """The committed entries whose key starts with ``prefix``, in key order."""
        raw_prefix = prefix.encode()
        for raw_key, raw in self._db(partition).items(from_key=raw_prefix):
            if not raw_key.startswith(raw_prefix):
                break
            if raw is not None:
                yield raw_key.decode(), orjson.loads(raw)

    def items(self, partition: int) -> Iterator[tuple[str, Any]]:
        """Every committed entry of one partition (to rebuild in-memory state after
        assignment; nothing is staged for a partition that is being loaded)."""
        offset_key = self.table.data.offset_key  # type: ignore[attr-defined]
        for raw_key, raw in self._db(partition).items():
            if raw_key != offset_key and raw is not None:
                yield raw_key.decode(), orjson.loads(raw)

    # --- inspection (metrics, /table views) ---------------------------------------------
    def open_partitions(self) -> list[int]:
        """The partitions this worker owns and has open (not standby replicas)."""
        is_active = self.table.app.assignor.is_active
        dbs = self.table.data._dbs  # type: ignore[attr-defined]
        return sorted(p for p in dbs if is_active(TP(self.topic, p)))

    def estimated_keys(self, partition: int) -> int:
        """RocksDB's estimate of the partition's keys: O(1), exact after compaction."""
        return self._db(partition).property_int_value("rocksdb.estimate-num-keys") or 0

    def page(
        self, partition: int, prefix: str = "", after: str | None = None, limit: int = 100
    ) -> list[tuple[str, Any]]:
        """At most ``limit`` committed entries whose key starts with ``prefix``, in key
        order, from the first key past ``after`` (a page of a listing)."""
        raw_prefix = prefix.encode()
        start = raw_prefix if after is None else max(raw_prefix, after.encode() + b"\0")
        offset_key = self.table.data.offset_key  # type: ignore[attr-defined]
        out: list[tuple[str, Any]] = []
        for raw_key, raw in self._db(partition).items(from_key=start):
            if len(out) >= limit or not raw_key.startswith(raw_prefix):
                break
            if raw_key != offset_key and raw is not None:
                out.append((raw_key.decode(), orjson.loads(raw)))
        return out

    # --- used by Checkpoint -------------------------------------------------------------
    def _write_staged(self) -> int:
        if not self._staged:
            return 0
        staged, self._staged = self._staged, defaultdict(dict)
        producer = self._checkpoint.producer
        topic = self.topic
        on_delivery = self._checkpoint._on_delivery
        n = 0
        for partition, writes in staged.items():
            if not writes:
                continue
            batch = WriteBatch(raw_mode=True)
            for k, v in writes.items():
                if v is None:
                    batch.delete(k)
                else:
                    batch.put(k, v)
            self._db(partition).write(batch)
            for k, v in writes.items():
                while True:
                    try:
                        producer.produce(topic, v, k, partition, on_delivery=on_delivery)
                        break
                    except BufferError:  # queue full: let librdkafka send some
                        producer.poll(0.05)
            n += len(writes)
        return n

    def _remember_offsets(self, acked: dict[tuple[str, int], int]) -> None:
        topic = self.topic
        store = self.table.data
        for (t, partition), offset in acked.items():
            if t == topic:
                store.set_persisted_offset(TP(t, partition), offset)  # type: ignore[attr-defined]
