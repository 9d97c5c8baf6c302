"""The verdict on one notification, as the channel agents publish it on ``notifications.receipts``.

Receipts carry only redacted destinations and short error details, and on the topic
even those are sealed (``SEALED_FIELDS``: an address or phone number is personal data);
a dead letter (kept on the receipt, not in its wire form) holds the full rendered
request so ``dlq replay`` can re-send it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from channels.outcome import DELIVERED

FAILED = "failed"  # transient errors until the retry budget ran out: dead-lettered
DEAD = "dead"  # the peer refused it for good (or it could not be rendered): dead-lettered
SKIPPED = "skipped"  # all alerts resolved and the integration has send_resolved: false
SEALED_FIELDS = ("destination", "last_error")  # sealed on notifications.receipts


@dataclass(slots=True)
class Receipt:
    channel: str
    receiver: str
    tenant: str
    notification_id: str
    integration: int
    status: str  # delivered | failed | dead | skipped
    latency: float  # seconds from the first attempt to the verdict
    attempts: int
    last_error: str = ""
    http_status: int | None = None
    destination: str = ""  # redacted (scheme://host/<secret>)
    state: dict[str, Any] | None = None  # channel state to keep for the group (Slack ts)
    dead_letter: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status in (DELIVERED, SKIPPED)

    def to_wire(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("dead_letter")
        return out
