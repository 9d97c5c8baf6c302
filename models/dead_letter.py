"""A dead letter: one record on the `dlq` topic for something that could not be processed
or delivered, and why.

Every writer of dead letters builds them with ``dead_letter``, so the topic has one shape:
``{"source", "reason", "item", "at"}`` -- the topic or stage the item came from, why it
was set aside, the item itself (as received, or as text when it was not even JSON) and
when (epoch seconds); on the topic the item is sealed (``SEALED_FIELDS``).  For an
undeliverable notification the source is ``notifications`` and the item is the
Deliverer's record (the notification, its rendered request, the last error), which
``alertstream dlq replay`` sends again::

    >>> dead_letter("metrics", "value: not a number", {"value": "x"}, at=1.0)
    {'source': 'metrics', 'reason': 'value: not a number', 'item': {'value': 'x'}, 'at': 1.0}
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

NOTIFICATIONS = "notifications"
SEALED_FIELDS = ("item",)
"""What a dead letter keeps sealed on the topic (``models/protection/fields.py``): the
item holds credentials (rendered requests) and personal data (rejected input)."""


def dead_letter(source: str, reason: str, item: Any, at: float | None = None) -> dict[str, Any]:
    """The `dlq` record for ``item`` from ``source``, set aside for ``reason`` at ``at``
    (now when not given)."""
    return {
        "source": source,
        "reason": reason,
        "item": item,
        "at": time.time() if at is None else at,
    }


def undelivered(letter: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Deliverer's record inside a notification dead letter; None for other letters.

    Letters written before the one shape above carried that record's fields at the top
    level (``{"source": "notifications", "notification": ...}``); they are read too, so
    a replay after an upgrade still finds them."""
    item = letter.get("item")
    if letter.get("source") == NOTIFICATIONS and isinstance(item, dict):
        return item if isinstance(item.get("notification"), dict) else None
    return dict(letter) if isinstance(letter.get("notification"), dict) else None
