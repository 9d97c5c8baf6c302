"""API tokens on every worker: each one reads the compacted ``tokens`` topic whole.

A token created or revoked with ``alertstream token create|revoke`` is one record (or
tombstone) keyed by its id; every worker reads the topic from the beginning with a
group-less consumer and keeps following it, as ``agents/config_updates.py`` follows the
configs, so a token works on every worker within a moment and survives restarts. A bad
record goes to ``dlq`` and changes nothing.
"""

from __future__ import annotations

import logging

import faust

from agents.dlq import dead_letters, raw_reject
from agents.topic_tail import tail_forever
from models.access.tokens import TokenStore

log = logging.getLogger(__name__)


def register(app: faust.App, tokens: TokenStore, topic: faust.TopicT, broker: str) -> None:
    """Follow the tokens topic into ``tokens`` for as long as the worker runs."""

    async def apply(partition: int, key: bytes | None, raw: bytes | None) -> None:
        try:
            tokens.apply(key, raw)
        except ValueError as exc:
            await dead_letters("tokens", key, [raw_reject(raw, str(exc))])

    def caught_up() -> None:
        tokens.ready = True
        log.info("API tokens read: %d", len(tokens.records))

    @app.task
    async def follow_tokens() -> None:
        await tail_forever(app, broker, topic.get_topic_name(), apply, caught_up)
