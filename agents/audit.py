"""The audit agent: the one writer of each tenant's audit chain.

Anything that changes something (an HTTP request, a CLI command, an applied command,
an escalation step, a config reload) writes an *audit request* to ``audit.requests``,
keyed by tenant (``AuditLog.record``), with who acted, from where, on what and the
details sealed under the tenant's data key (a request that comes unsealed is sealed
here), so erasing the tenant shreds them; hashes cover the sealed form. This agent, on
the worker that owns the tenant's partition, chains each request as the tenant's next
entry and writes it to ``audit`` on the same partition; on a timer it signs a
checkpoint over each changed tenant's Merkle tree head, into ``audit`` and the
compacted ``audit.checkpoints``.

Why the chain neither forks nor skips across kill -9, restarts and rebalances: the
``audit`` topic is the truth. Entries are produced in order (one request in flight per
connection) and awaited before the input record counts as handled; only then is a
snapshot of the chain state staged (``audit_chains`` table: per tenant seq, last hash,
Merkle frontier; per partition the last request chained and the ``audit`` offset the
snapshot covers). A worker that takes a partition (again) loads the snapshot and reads
``audit`` from that offset to its end, so it continues from the last entry the broker
holds, and skips requests already chained there (each entry names its request). A
revoked partition's state is dropped after the producer is flushed, so the next owner
reads everything the previous one wrote.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import faust
import orjson
from confluent_kafka import Producer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.continuity import OffsetGuard
from agents.dlq import dead_letters, raw_reject
from agents.sealing import tenant_sealer
from agents.topic_tail import groupless_consumer
from app.settings import Settings, bootstrap_servers, security_config
from models.audit.chain import TenantChain
from models.audit.entry import ENTRY, GLOBAL, AuditError, check_request, request, sealed_request
from models.audit.signing import sign_checkpoint
from models.protection.fields import SEALED
from models.protection.keyring import DataProtection
from models.wire import WireError, decode_batch
from tables.store import Checkpoint, PartitionStore

log = logging.getLogger(__name__)

Origin = tuple[int, int]  # (offset, index) of the request an entry came from


class AuditLog:
    """What producers of audit requests inside a worker call: one request per action,
    its identifying fields sealed for the tenant, produced through the worker's state
    producer (acknowledged before the input that caused it is committed).  A tenant's
    first request in this process, or one before the keys topic is read, waits for the
    tenant's data key in a task instead (its callers are not coroutines)."""

    def __init__(
        self, checkpoint: Checkpoint, requests_topic: str, protection: DataProtection
    ) -> None:
        self.checkpoint = checkpoint
        self.topic = requests_topic
        self.protection = protection
        self._waiting: set[asyncio.Future[None]] = set()

    def record(
        self,
        tenant: str | None,
        actor: str,
        action: str,
        target: str = "",
        source: str = "",
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
    ) -> None:
        req = request(
            tenant=tenant,
            at=time.time(),
            actor=actor or "unknown",
            action=action,
            target=target,
            source=source,
            outcome=outcome,
            detail=detail,
        )
        tenant = req["tenant"]
        if self.protection.ready and self.protection.has_key(tenant):
            try:  # a caller's action is done: a record that fails must not undo it
                self._produce(req, partial(self.protection.seal, tenant))
            except Exception:
                log.exception("audit: %s of %s not recorded", action, tenant)
            return
        waiting = asyncio.ensure_future(self._record_when_keyed(req))
        self._waiting.add(waiting)
        waiting.add_done_callback(self._waiting.discard)

    async def _record_when_keyed(self, req: dict[str, Any]) -> None:
        try:
            self._produce(req, await tenant_sealer(self.protection, req["tenant"]))
        except Exception:  # the keys store: the action is done, its record is lost
            log.exception("audit: %s of %s not recorded", req["action"], req["tenant"])

    def _produce(self, req: dict[str, Any], seal: Callable[[bytes], bytes]) -> None:
        self.checkpoint.produce(self.topic, req["tenant"].encode(), [sealed_request(req, seal)])
        self.checkpoint.producer.poll(0)

    async def after_command(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        """A command the commands agent applied (silence, ack, resolve, incident merge
        and split, escalation reassign and snooze)."""
        op = str(cmd.get("op") or cmd.get("action"))
        silence = cmd.get("silence") if isinstance(cmd.get("silence"), dict) else {}
        tenant = cmd.get("tenant") or silence.get("n")  # Silence.to_dict's compact form
        actor = cmd.get("user") or silence.get("b") or ""
        target = (
            cmd.get("group_key") or cmd.get("incident") or cmd.get("id") or silence.get("i") or ""
        )
        detail = {k: cmd[k] for k in ("fingerprint", "until", "duration", "to") if k in cmd}
        self.record(tenant, str(actor), op, str(target), "commands", detail=detail)

    def config_reloaded(self, path: str, errors: list[str]) -> None:
        """A SIGHUP reload of the pipelines file: installed, or refused and why."""
        self.record(
            GLOBAL,
            "worker",
            "config.reload",
            path,
            socket.gethostname(),
            "error" if errors else "ok",
            {"errors": errors} if errors else None,
        )

    def escalation_actions(self, tenant: str, items: list[dict[str, Any]]) -> None:
        """The actions of an escalation step (pages, repeats, resolves)."""
        for item in items:
            self.record(
                tenant,
                "escalation",
                f"escalation.{item.get('action')}",
                str(item.get("group_key", "")),
                "worker",
                detail={k: item[k] for k in ("policy", "step", "who", "why") if k in item},
            )


class AuditChains:
    """Per owned partition: every tenant's chain, the last request chained, and the
    ``audit`` offset its snapshot covers."""

    def __init__(
        self,
        app: faust.App,
        store: PartitionStore,
        settings: Settings,
        topics: tuple[str, str, str],  # audit.requests, audit, audit.checkpoints
        key: Ed25519PrivateKey,
        protection: DataProtection,
    ) -> None:
        self.app = app
        self.protection = protection
        self.store = store
        self.broker = settings.broker
        self.requests, self.topic, self.checkpoints_topic = topics
        self.key = key
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers(settings.broker),
                **security_config(settings.broker_credentials),
                "acks": "all",
                "linger.ms": 2,
                "max.in.flight.requests.per.connection": 1,  # entries land in chain order
            }
        )
        self.chains: dict[int, dict[str, TenantChain]] = {}
        self.applied: dict[int, Origin] = {}
        self.offset: dict[int, int] = {}  # partition -> last audit offset in the snapshot
        self.lock = asyncio.Lock()

    # --- partitions ---------------------------------------------------------------------
    async def ensure(self, partition: int) -> None:
        if partition in self.chains:
            return
        chains = {
            k.removeprefix("chain/"): TenantChain.from_wire(v)
            for k, v in self.store.scan(partition, "chain/")
        }
        position = self.store.get(partition, "position") or {"request": [-1, -1], "audit": -1}
        applied, offset = tuple(position["request"]), position["audit"]
        read = 0
        for at, value in await self._tail(partition, offset + 1):
            offset = at
            for record in orjson.loads(value):
                chain = chains.setdefault(record["tenant"], TenantChain())
                if not chain.follow(record):
                    log.error("audit[%d]@%d: not the chain's next entry: %s", partition, at, record)
                if record.get("kind") == ENTRY:
                    origin = tuple(int(x) for x in record["origin"].split(":")[1:])
                    applied = max(applied, origin)
                read += 1
        self.chains[partition] = chains
        self.applied[partition] = applied  # type: ignore[assignment]
        self.offset[partition] = offset
        log.info(
            "audit partition %d: %d tenants' chains, %d records read past the snapshot",
            partition,
            len(chains),
            read,
        )

    def drop(self, partitions: set[int]) -> None:
        self.producer.flush(10)
        for p in partitions:
            self.chains.pop(p, None)

    async def _tail(self, partition: int, start: int) -> list[tuple[int, bytes]]:
        """The ``audit`` records of a partition from ``start`` to the end it has now."""
        from aiokafka import TopicPartition

        consumer = groupless_consumer(self.app, self.broker)
        await consumer.start()
        tp = TopicPartition(self.topic, partition)
        out: list[tuple[int, bytes]] = []
        try:
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            if start >= end:
                return out
            consumer.seek(tp, start)
            while await consumer.position(tp) < end:
                batches = await consumer.getmany(tp, timeout_ms=500)
                out += [(m.offset, m.value) for m in batches.get(tp, []) if m.offset < end]
        finally:
            await consumer.stop()
        return out

    # --- chaining -----------------------------------------------------------------------
    async def append(self, partition: int, offset: int, items: list[Any]) -> list[tuple[Any, str]]:
        """Chain one request record's items; returns the rejects (for ``dlq``)."""
        async with self.lock:
            await self.ensure(partition)
            chains, applied = self.chains[partition], self.applied[partition]
            rejects: list[tuple[Any, str]] = []
            out: dict[str, list[dict[str, Any]]] = {}
            for index, item in enumerate(items):
                if (offset, index) <= applied:
                    continue  # chained before a restart
                try:
                    req = check_request(item)
                except AuditError as exc:
                    rejects.append((item, str(exc)))
                    continue
                if SEALED not in req:  # from a producer that did not seal it
                    req = sealed_request(req, await tenant_sealer(self.protection, req["tenant"]))
                chain = chains.setdefault(req["tenant"], TenantChain())
                entry = chain.append(req, f"{partition}:{offset}:{index}")
                out.setdefault(req["tenant"], []).append(entry)
            if out:
                await self._send(partition, self.topic, out)
            self.applied[partition] = max(applied, (offset, len(items) - 1))
            self._snapshot(partition, out)
            return rejects

    async def sign(self, now: float, owned: set[int]) -> int:
        """A signed checkpoint for every tenant with entries since its last one, on the
        ``owned`` partitions (loaded first: entries chained before a restart are signed
        even if no request has come since)."""
        async with self.lock:
            for partition in owned:
                await self.ensure(partition)
            n = 0
            for partition in sorted(owned):
                chains = self.chains.get(partition, {})  # dropped if a send failed
                out = {
                    tenant: [sign_checkpoint(self.key, tenant, c.seq, c.tree.root(), now)]
                    for tenant, c in chains.items()
                    if c.unsigned()
                }
                if not out:
                    continue
                await self._send(partition, self.topic, out)
                await self._send(partition, self.checkpoints_topic, out, position=False)
                for tenant, (cp,) in out.items():
                    chains[tenant].signed = cp["size"]
                self._snapshot(partition, out)
                n += len(out)
            return n

    async def _send(
        self,
        partition: int,
        topic: str,
        records: dict[str, list[dict[str, Any]]],
        position: bool = True,
    ) -> None:
        """Produce one record per tenant and wait for the broker; on failure the
        partition's state is dropped (rebuilt from the topic at its next use)."""
        results: list[tuple[Any, int]] = []

        def delivered(err: Any, msg: Any) -> None:
            results.append((err, msg.offset()))

        for tenant, items in records.items():
            self.producer.produce(
                topic, orjson.dumps(items), tenant.encode(), partition, on_delivery=delivered
            )
        while self.producer.flush(0) > 0 or len(results) < len(records):
            await asyncio.sleep(0.002)
        failed = [err for err, _ in results if err is not None]
        if failed:
            self.chains.pop(partition, None)
            raise RuntimeError(f"audit[{partition}]: not written: {failed[:3]}")
        if position:
            self.offset[partition] = max(offset for _, offset in results)

    def _snapshot(self, partition: int, tenants: dict[str, Any]) -> None:
        chains = self.chains[partition]
        for tenant in tenants:
            self.store.put(partition, f"chain/{tenant}", chains[tenant].to_wire())
        self.store.put(
            partition,
            "position",
            {"request": list(self.applied[partition]), "audit": self.offset[partition]},
        )


def register(
    app: faust.App,
    topic: faust.TopicT,
    chains: AuditChains,
    checkpoint: Checkpoint,
    guard: OffsetGuard,
    every: float,
) -> None:
    """The agent on ``audit.requests`` and the checkpoint timer (``every`` seconds)."""
    name = topic.get_topic_name()

    async def handle(partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        try:
            items = decode_batch(value)
        except WireError as exc:
            await dead_letters("audit.requests", key, [raw_reject(value, str(exc))])
            return
        while True:  # the broker refused the entries: retry; the chain waits, never skips
            try:
                rejects = await chains.append(partition, offset, items)
                break
            except RuntimeError:
                log.exception("audit: chaining failed; retrying")
                await asyncio.sleep(1.0)
        await dead_letters("audit.requests", key, rejects)

    @app.agent(topic, name="agents.audit.chain_requests")
    async def chain_requests(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            partition = event.message.partition
            for r in await guard.records(name, event.message):
                await handle(partition, r.offset, r.key, r.value)
            guard.handled(name, partition, event.message.offset)
            checkpoint.commit_batch()

    @app.on_partitions_revoked.connect
    async def drop_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        chains.drop({tp.partition for tp in revoked if tp.topic == name})

    @app.timer(every, name="agents.audit.sign_checkpoints")
    async def sign_checkpoints() -> None:
        if app.rebalancing or app.in_recovery:
            return
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name}
        try:
            if await chains.sign(time.time(), owned):
                checkpoint.commit_batch()
        except RuntimeError:
            log.exception("audit: checkpoint not written; next time")
