"""Every worker follows the ``keys`` topic, and rotates the keyring when it is due.

The topic holds the wrapped data keys (``models/protection/keyring.py``); each worker
reads it all from the beginning with a group-less consumer and keeps following it, so
a data key another worker or the CLI created, re-wrapped (``keys rotate``) or shredded
(``gdpr erase``) is known here within a poll: shredding reaches every worker's cache.
``protection.ready`` turns true once the end offsets seen at start are reached.

With ``data_protection.key_rotation`` set, a timer asks the keyring once a minute
whether its current KEK is that old; the check and the new KEK are one locked step of
the keyring file, so of several workers exactly one rotates and re-wraps.
"""

from __future__ import annotations

import asyncio
import logging

import faust

from agents.topic_tail import tail_forever
from models.protection.keyring import DataProtection, KeyringReadOnly

log = logging.getLogger(__name__)

ROTATION_CHECK = 60.0  # seconds between "is a rotation due?" checks


def register(
    app: faust.App,
    protection: DataProtection,
    topic: faust.TopicT,
    broker: str,
    rotation_interval: float | None,
) -> None:
    """Follow the keys topic on every worker; rotate every ``rotation_interval`` s."""
    protection.status()  # the keyring is read (or created) now: a bad one stops the start

    async def apply(partition: int, key: bytes | None, value: bytes | None) -> None:
        protection.apply(key, value)

    def caught_up() -> None:
        protection.ready = True
        log.info("keys read: %d data keys", protection.status()["data_keys"])

    @app.task
    async def follow_keys() -> None:  # applying a record again is a no-op
        await tail_forever(app, broker, topic.get_topic_name(), apply, caught_up)

    if not rotation_interval:
        return

    read_only: list[KeyringReadOnly] = []  # said once, not every minute

    @app.timer(ROTATION_CHECK)
    async def rotate_keys() -> None:
        if not protection.ready or read_only:
            return
        try:  # file lock, re-wrap and a confirmed write: off the event loop
            done = await asyncio.to_thread(protection.rotate_if_due, rotation_interval)
        except KeyringReadOnly as exc:
            read_only.append(exc)
            log.warning("scheduled key rotation is not possible: %s", exc)
            return
        except Exception:  # the keyring file or the broker: try again at the next check
            log.exception("scheduled key rotation failed")
            return
        if done is not None:
            log.warning(
                "rotated keys: %s is current, %d data keys re-wrapped%s",
                done.kek_id,
                done.rewrapped,
                f", {len(done.unavailable)} not (their KEK is missing)" if done.unavailable else "",
            )
