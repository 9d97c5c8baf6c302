"""Dead letters: what could not be processed goes to the `dlq` topic with the reason.

Not an agent: every agent calls ``dead_letters`` for its rejects (one record per batch,
each letter built by ``models.dead_letter.dead_letter``, its item sealed for the tenant
the record is keyed by: ``agents/sealing.py``).
"""

from __future__ import annotations

import time
from typing import Any

from agents.sealing import sealed_letters
from app.faust_app import dlq_topic, send_batch
from models.dead_letter import dead_letter


async def dead_letters(source: str, key: bytes | None, rejects: list[tuple[Any, str]]) -> None:
    """Send rejected items, each with its reason and the topic it came from."""
    if not rejects:
        return
    now = time.time()
    letters = [dead_letter(source, reason, item, now) for item, reason in rejects]
    await send_batch(dlq_topic, key, await sealed_letters(key, letters))


def raw_reject(raw: bytes | None, reason: str) -> tuple[Any, str]:
    """A record that was not even JSON keeps its bytes as text."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text, reason
