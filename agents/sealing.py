"""What the agents write sealed: dead letters' items, receipts' destinations, and the
text of tenants' config versions.

All are cold paths (rejects, delivery verdicts, config changes), so one AES-GCM
operation per record costs nothing the alert path would notice; the alert path itself
seals nothing.  The tenant a record is sealed for is its key on the topic.
A tenant's first data key is created in a thread: it waits for the broker's
acknowledgement of the keys record, which must not stall the event loop.  Audit
requests are sealed too (``agents/audit.py``), with the same ``tenant_sealer``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import orjson

from app.config.tenants import SEALED_FIELDS as CONFIG_FIELDS
from channels.receipt import SEALED_FIELDS as RECEIPT_FIELDS
from channels.receipt import Receipt
from models.dead_letter import SEALED_FIELDS as LETTER_FIELDS
from models.protection.fields import SEALED, open_fields, seal_fields
from models.protection.keyring import DataProtection, KeyUnavailable, SealError
from tables import protection

KEYS_WAIT = 0.05  # seconds between looks at whether the keys topic has been read


async def tenant_sealer(keys: DataProtection, tenant: str) -> Callable[[bytes], bytes]:
    """Seal under ``tenant``'s data key.  Waits until the keys topic has been read (a
    starting worker must not make a new key for a tenant that has one), then creates
    the tenant's first key, if it has none, in a thread."""
    while not keys.ready:
        await asyncio.sleep(KEYS_WAIT)
    if not keys.has_key(tenant):
        await asyncio.to_thread(keys.ensure_key, tenant)
    return partial(keys.seal, tenant)


async def sealer(key: bytes | None) -> Callable[[bytes], bytes]:
    """Seal under the data key of the tenant that ``key`` (a topic key) names."""
    return await tenant_sealer(protection, key.decode(errors="replace") if key else "")


async def sealed_letters(
    key: bytes | None, letters: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    seal = await sealer(key)
    return [seal_fields(letter, LETTER_FIELDS, seal) for letter in letters]


async def sealed_receipts(key: bytes | None, receipts: Iterable[Receipt]) -> list[dict[str, Any]]:
    seal = await sealer(key)
    return [seal_fields(r.to_wire(), RECEIPT_FIELDS, seal) for r in receipts]


async def sealed_version(tenant: str, wire: bytes) -> bytes:
    """A config version record (``ConfigVersion.to_wire``) with its texts sealed."""
    seal = await sealer(tenant.encode())
    return orjson.dumps(seal_fields(orjson.loads(wire), CONFIG_FIELDS, seal))


async def opened_version(raw: bytes) -> bytes:
    """A config version record with its texts opened; one written unsealed (by another
    producer, or before sealing) as it is.  Waits until the keys topic has been read;
    ValueError if the texts cannot be opened (the tenant erased, or the key unknown)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw  # ConfigVersion.from_wire says what is wrong with it
    if not isinstance(doc, dict) or SEALED not in doc:
        return raw
    while not protection.ready:
        await asyncio.sleep(KEYS_WAIT)
    try:
        return orjson.dumps(open_fields(doc, protection.unseal))
    except (KeyUnavailable, SealError, ValueError) as exc:
        raise ValueError(f"sealed config version cannot be opened: {exc}") from None
