"""Channel sender agents: one per channel, each fed by its own `notifications.<channel>`.

Each record is a batch of notifications; they are delivered concurrently through the
``Deliverer`` (retries, rate limits, circuit breakers).  Every outcome is a receipt
on `notifications.receipts`; what cannot be delivered goes to `dlq` with the
rendered request, for ``alertstream dlq replay``.  A slow or dead channel backs up
only its own topic.  Delivered ids are recorded in the `delivered` table, so a worker
killed before committing its offset does not deliver the same notification again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from app.faust_app import app, dlq_topic, notification_topics, receipts_topic, send_batch
from app.pipeline import pipeline_config
from channels.delivery import Deliverer
from models.notify.notification import Notification
from tables import delivered

DELIVERED_RETENTION = 7 * 86400.0

log = logging.getLogger(__name__)

_deliverer: Deliverer | None = None


async def deliverer() -> Deliverer:
    """One Deliverer per worker, created in the running loop (it owns an HTTP session)."""
    global _deliverer
    if _deliverer is None:
        receivers = {r.name: r for r in pipeline_config().receivers}
        _deliverer = Deliverer(
            receivers, aiohttp.ClientSession(), pipeline_config().delivery.policy()
        )
    return _deliverer


async def deliver_batch(partition: int, key: bytes | None, raw: bytes) -> None:
    try:
        notifications = [Notification.from_wire(d) for d in orjson.loads(raw)]
    except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
        await dlq_topic.send(
            key=key,
            value=orjson.dumps(
                [
                    {
                        "source": "notifications",
                        "reason": f"unreadable notification: {exc}",
                        "item": raw.decode("utf-8", "replace"),
                    }
                ]
            ),
        )
        return
    notifications = [n for n in notifications if delivered.get(partition, n.id) is None]
    if not notifications:
        return
    d = await deliverer()
    receipts = await asyncio.gather(*(d.deliver(n) for n in notifications))
    for r in receipts:
        if r.ok:
            delivered.put(partition, r.notification_id, time.time())
    dead: list[dict[str, Any]] = []
    for r in receipts:
        if r.dead_letter is not None:
            dead.append({"source": "notifications", **r.dead_letter})
        if not r.ok:
            log.warning(
                "notification %s to %s/%s: %s (%s)",
                r.notification_id,
                r.receiver,
                r.channel,
                r.status,
                r.last_error,
            )
    await send_batch(receipts_topic, key, [r.to_wire() for r in receipts])
    if dead:
        await send_batch(dlq_topic, key, dead)


def _sender(kind: str, topic: Any) -> None:
    async def send(stream: AsyncIterator[Any]) -> None:
        async for event in stream.events():  # type: ignore[attr-defined]
            await deliver_batch(event.message.partition, event.key, event.value)

    send.__name__ = f"send_{kind}"
    app.agent(topic, name=f"notify.{kind}")(send)


for _kind, _topic in notification_topics.items():
    _sender(_kind, _topic)


@app.timer(3600.0)
async def forget_old_deliveries() -> None:
    """Drop delivery records past the retention: only recent resends need catching."""
    names = {t.get_topic_name() for t in notification_topics.values()}
    owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic in names}
    cutoff = time.time() - DELIVERED_RETENTION
    for partition in owned:
        for key, at in list(delivered.items(partition)):
            if at < cutoff:
                delivered.delete(partition, key)
