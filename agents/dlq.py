"""Dead letters: what could not be processed goes to the `dlq` topic with the reason.

Not an agent: every agent calls ``dead_letters`` for its rejects (one record per batch).
"""

from __future__ import annotations

import time
from typing import Any

from app.faust_app import dlq_topic, send_batch


async def dead_letters(source: str, key: bytes | None, rejects: list[tuple[Any, str]]) -> None:
    """Send rejected items, each with its reason and the topic it came from."""
    if not rejects:
        return
    now = time.time()
    batch = [
        {"source": source, "reason": reason, "item": item, "at": now} for item, reason in rejects
    ]
    await send_batch(dlq_topic, key, batch)


def raw_reject(raw: bytes | None, reason: str) -> tuple[Any, str]:
    """A record that was not even JSON keeps its bytes as text."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text, reason
