"""What the agents write sealed: dead letters' items and receipts' destinations.

Both are cold paths (rejects and delivery verdicts, at most one per notification), so
one AES-GCM operation per record costs nothing the alert path would notice; the alert
path itself seals nothing.  The tenant a record is sealed for is its key on the topic.
A tenant's first data key is created in a thread: it waits for the broker's
acknowledgement of the keys record, which must not stall the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from channels.receipt import SEALED_FIELDS as RECEIPT_FIELDS
from channels.receipt import Receipt
from models.dead_letter import SEALED_FIELDS as LETTER_FIELDS
from models.protection.fields import seal_fields
from tables import protection


async def sealer(key: bytes | None) -> Callable[[bytes], bytes]:
    """Seal under the data key of the tenant that ``key`` (a topic key) names."""
    tenant = key.decode(errors="replace") if key else ""
    if not protection.has_key(tenant):
        await asyncio.to_thread(protection.ensure_key, tenant)
    return partial(protection.seal, tenant)


async def sealed_letters(
    key: bytes | None, letters: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    seal = await sealer(key)
    return [seal_fields(letter, LETTER_FIELDS, seal) for letter in letters]


async def sealed_receipts(key: bytes | None, receipts: Iterable[Receipt]) -> list[dict[str, Any]]:
    seal = await sealer(key)
    return [seal_fields(r.to_wire(), RECEIPT_FIELDS, seal) for r in receipts]
