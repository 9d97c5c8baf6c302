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
from collections.abc import Mapping

import faust
import orjson

from agents.dlq import dead_letters, raw_reject
from app.config.deliverer import build_deliverer
from app.config.schema import PipelinesConfig
from app.faust_app import receipts_topic, send_batch
from channels.delivery import Deliverer
from models.dead_letter import NOTIFICATIONS
from models.notify.notification import Notification
from tables import checkpoint, delivered

DELIVERED_RETENTION = 7 * 86400.0

log = logging.getLogger(__name__)


class ChannelSenders:
    """What every channel agent of a worker delivers through: one Deliverer, so a
    receiver's rate limit and a destination's circuit breaker hold across channels.

    The Deliverer is made on the first batch, inside the running loop: it sends through
    the app's HTTP session, which belongs to that loop and which Faust closes on stop."""

    def __init__(self, app: faust.App, config: PipelinesConfig) -> None:
        self.app = app
        self.config = config
        self._deliverer: Deliverer | None = None

    def deliverer(self) -> Deliverer:
        if self._deliverer is None:
            self._deliverer = build_deliverer(self.config, self.app.http_client)  # type: ignore[arg-type]
        return self._deliverer

    async def deliver_batch(self, partition: int, key: bytes | None, raw: bytes) -> None:
        """Deliver one record's notifications (those not delivered before), then write
        their receipts and dead letters."""
        try:
            notifications = [Notification.from_wire(d) for d in orjson.loads(raw)]
        except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
            await dead_letters(
                NOTIFICATIONS, key, [raw_reject(raw, f"unreadable notification: {exc}")]
            )
            return
        notifications = [n for n in notifications if delivered.get(partition, n.id) is None]
        if not notifications:
            return
        deliverer = self.deliverer()
        receipts = await asyncio.gather(*(deliverer.deliver(n) for n in notifications))
        for r in receipts:
            if r.ok:
                delivered.put(partition, r.notification_id, time.time())
            else:
                log.warning(
                    "notification %s to %s/%s: %s (%s)",
                    r.notification_id,
                    r.receiver,
                    r.channel,
                    r.status,
                    r.last_error,
                )
        checkpoint.commit_batch()  # the delivered ids on disk before anything else happens
        await send_batch(receipts_topic, key, [r.to_wire() for r in receipts])
        await dead_letters(
            NOTIFICATIONS,
            key,
            [(r.dead_letter, r.dead_letter["reason"]) for r in receipts if r.dead_letter],
        )


def register(app: faust.App, topics: Mapping[str, faust.TopicT], senders: ChannelSenders) -> None:
    """One sender agent per channel topic, all delivering through ``senders``."""
    for kind, topic in topics.items():
        _sender(app, kind, topic, senders)

    @app.timer(3600.0, name="agents.notify.forget_old_deliveries")
    async def forget_old_deliveries() -> None:
        """Drop delivery records past the retention: only recent resends need catching."""
        names = {t.get_topic_name() for t in topics.values()}
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic in names}
        cutoff = time.time() - DELIVERED_RETENTION
        for partition in owned:
            for key, at in list(delivered.items(partition)):
                if at < cutoff:
                    delivered.delete(partition, key)


def _sender(app: faust.App, kind: str, topic: faust.TopicT, senders: ChannelSenders) -> None:
    @app.agent(topic, name=f"notify.{kind}")
    async def send(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            await senders.deliver_batch(event.message.partition, event.key, event.value)
