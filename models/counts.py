"""What an agent took in, counted once per batch, never per item.

The owner of an agent's state keeps one of these; ``/metrics`` reads it at scrape time
(``app/metrics.py``), so counting costs two additions per input record however many
items the record carries.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class IngestCounts:
    received: int = 0  # items decoded and accepted
    rejected: int = 0  # items (or unreadable records) sent to dlq

    def add(self, received: int, rejected: int) -> None:
        self.received += received
        self.rejected += rejected
