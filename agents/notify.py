"""Channel sender agents: one per channel, each fed by its own `notifications.<channel>`.

Each record is a batch of notifications; they are delivered concurrently through the
worker's ``Deliverer`` (retries, rate limits, circuit breakers).  Every outcome is a
receipt on `notifications.receipts`; what cannot be delivered goes to `dlq` with the
rendered request, for ``alertstream dlq replay``.  A slow or dead channel backs up
only its own topic.  Delivered ids are recorded in the `delivered` table, so a worker
killed before committing its offset does not deliver the same notification again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import faust
import msgspec
import orjson
from opentelemetry.trace import SpanKind

from agents.continuity import OffsetGuard
from agents.dlq import dead_letters, raw_reject
from agents.sealing import sealed_receipts
from app.config.deliverer import build_deliverer
from app.config.schema import PipelinesConfig
from app.faust_app import receipts_topic, send_batch
from app.settings import settings
from channels.delivery import Deliverer, ReceiverLookup
from channels.receipt import SKIPPED, Receipt
from models.dead_letter import NOTIFICATIONS
from models.notify.coalesce import Envelope, envelopes, superseded
from models.notify.inflight import InFlight
from models.notify.notification import Notification
from models.tracing import batch_span, record_span
from tables import checkpoint, delivered

CONCURRENCY = 64  # deliveries under way at once per worker

log = logging.getLogger(__name__)


class ChannelSenders:
    """What every channel agent of a worker delivers through: one Deliverer, so a
    receiver's rate limit and a destination's circuit breaker hold across channels.

    The Deliverer is made on the first batch, inside the running loop: it sends through
    the app's HTTP session, which belongs to that loop and which Faust closes on stop."""

    def __init__(
        self,
        app: faust.App,
        config: PipelinesConfig,
        inflight: InFlight,
        receivers: ReceiverLookup | None = None,
        set_by_tenant: Callable[[str], bool] | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.receivers = receivers  # (tenant, name) -> receiver, for per-tenant configs
        self.set_by_tenant = set_by_tenant  # its receivers' destinations are checked (SSRF)
        self.inflight = inflight  # told of every final receipt (the alert path waits on it)
        # deliveries under way at once: a backlog taken in one batch must not open
        # thousands of requests (they would queue for connections, time out and trip the
        # destination's circuit breaker)
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._deliverer: Deliverer | None = None
        # pseudonyms back to personal values just before delivery (agents/privacy.py)
        self.reveal: Callable[[int, bytes], Awaitable[bytes]] | None = None
        self.traced = bool(settings.otlp_endpoint)  # a span per batch and per delivery
        # told of each batch's receipts once it is settled (metrics: app/metrics.py)
        self.observers: list[Callable[[list[Receipt]], None]] = []

    def deliverer(self) -> Deliverer:
        if self._deliverer is None:
            self._deliverer = build_deliverer(
                self.config,
                self.app.http_client,  # type: ignore[arg-type]
                self.receivers,
                self.set_by_tenant,
            )
        return self._deliverer

    async def deliver_records(self, records: list[tuple[int, bytes | None, bytes]]) -> None:
        """Deliver the notifications of a batch of records (partition, key, value): those
        not delivered before, less those a newer one in the batch supersedes
        (``models/notify/coalesce.py``: under a backlog only a group's latest state
        goes out), then write their receipts and dead letters."""
        waiting: list[tuple[int, bytes | None, bytes, list[Envelope]]] = []
        for partition, key, raw in records:
            try:
                waiting.append((partition, key, raw, envelopes(raw)))
            except msgspec.DecodeError as exc:
                reason = f"unreadable notification: {exc}"
                await dead_letters(NOTIFICATIONS, key, [raw_reject(raw, reason)])
        newer = superseded([e for *_, found in waiting for e in found])
        pending: list[tuple[int, bytes | None, Notification]] = []
        skipped: list[tuple[int, bytes | None, Envelope]] = []
        for partition, key, raw, found in waiting:
            fresh = []
            for e in found:
                if delivered.get(partition, e.id) is None:
                    fresh.append(e)
                else:
                    self.inflight.settled(e.id)
            skipped += [(partition, key, e) for e in fresh if e.id in newer]
            wanted = {e.id for e in fresh if e.id not in newer}
            if not wanted:
                continue
            try:
                if self.reveal is not None:
                    raw = await self.reveal(partition, raw)
                decoded = [Notification.from_wire(d) for d in orjson.loads(raw)]
            except (TypeError, KeyError) as exc:
                reason = f"unreadable notification: {exc}"
                await dead_letters(NOTIFICATIONS, key, [raw_reject(raw, reason)])
                continue
            pending += [(partition, key, n) for n in decoded if n.id in wanted]
        if not pending and not skipped:
            return
        deliverer = self.deliverer()

        async def deliver(partition: int, n: Notification) -> Receipt:
            async with self._slots:
                if self.traced:
                    r = await _traced(deliverer, n)
                else:
                    r = await deliverer.deliver(n)
            if r.ok:  # on disk at once: a kill -9 after this does not send it again
                delivered.put(partition, r.notification_id, time.time())
                checkpoint.commit_batch()
            else:
                log.warning(
                    "notification %s to %s/%s: %s (%s)",
                    r.notification_id,
                    r.receiver,
                    r.channel,
                    r.status,
                    r.last_error,
                    extra={
                        "tenant": n.tenant,
                        "group_key": n.group_key,
                        "notification": n.id,
                    },
                )
            return r

        receipts = list(await asyncio.gather(*(deliver(p, n) for p, _, n in pending)))
        for partition, _, e in skipped:
            delivered.put(partition, e.id, time.time())
        receipts += [_superseded(e, newer[e.id]) for _, _, e in skipped]
        checkpoint.commit_batch()
        where = {n.id: k for _, k, n in pending} | {e.id: k for _, k, e in skipped}
        for r in receipts:
            self.inflight.settled(r.notification_id)
        for observe in self.observers:
            observe(receipts)
        by_key: dict[bytes | None, list[Receipt]] = {}
        for r in receipts:
            by_key.setdefault(where[r.notification_id], []).append(r)
        for key, rs in by_key.items():
            await send_batch(receipts_topic, key, await sealed_receipts(key, rs))
            await dead_letters(
                NOTIFICATIONS,
                key,
                [(r.dead_letter, r.dead_letter["reason"]) for r in rs if r.dead_letter],
            )


async def _traced(deliverer: Deliverer, n: Notification) -> Receipt:
    """One delivery in a client span (a child of its record's span)."""
    with batch_span(
        f"deliver {n.channel}",
        kind=SpanKind.CLIENT,
        receiver=n.receiver,
        notification=n.id,
        alerts=len(n.alerts),
    ) as span:
        r = await deliverer.deliver(n)
        span.set_attribute("outcome", r.status)
        return r


def _superseded(n: Envelope, by: str) -> Receipt:
    return Receipt(
        n.channel, n.receiver, n.tenant, n.id, n.integration, SKIPPED, 0.0, 0, f"superseded by {by}"
    )


def register(
    app: faust.App,
    topics: Mapping[str, faust.TopicT],
    senders: ChannelSenders,
    guard: OffsetGuard,
) -> None:
    """One sender agent per channel topic, all delivering through ``senders``; ``guard``
    hands over the records the consumer skipped (``agents/continuity.py``)."""
    for kind, topic in topics.items():
        _sender(app, kind, topic, senders, guard)

    @app.timer(3600.0, name="agents.notify.forget_old_deliveries")
    async def forget_old_deliveries() -> None:
        """Drop delivery records past the retention: only recent resends need catching."""
        names = {t.get_topic_name() for t in topics.values()}
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic in names}
        cutoff = time.time() - senders.config.retention.delivered
        for partition in owned:
            for key, at in list(delivered.items(partition)):
                if at < cutoff:
                    delivered.delete(partition, key)


def _sender(
    app: faust.App, kind: str, topic: faust.TopicT, senders: ChannelSenders, guard: OffsetGuard
) -> None:
    name = topic.get_topic_name()

    @app.agent(topic, name=f"notify.{kind}")
    async def send(stream):  # type: ignore[no-untyped-def]
        # one record at a time (Faust acks an event when the next is asked for); a
        # record holds one flush's notifications of a tenant
        async for event in stream.events():
            message = event.message
            for r in await guard.records(name, message):  # a record read back keeps its trace
                with record_span(senders.traced, "alertstream.deliver", r.headers, channel=kind):
                    await senders.deliver_records([(message.partition, r.key, r.value)])
            guard.handled(name, message.partition, message.offset)
