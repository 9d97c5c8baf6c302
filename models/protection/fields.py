"""Sealing some fields of a JSON record and leaving the rest readable.

A dead letter keeps its ``source``, ``reason`` and ``at`` in clear (an operator sorts
letters by them) and seals its ``item`` (the notification with its rendered request and
credentials, or the rejected input); a receipt keeps its status and timings for
analytics and seals its ``destination`` and ``last_error``.  The sealed fields travel
as one JSON object, sealed and base64-encoded, under ``"sealed"``::

    >>> hide = lambda raw: raw[::-1]  # stands in for DataProtection.seal
    >>> record = seal_fields({"status": "ok", "to": "a@x.org"}, ("to",), hide)
    >>> sorted(record)
    ['sealed', 'status']
    >>> open_fields(record, lambda raw: raw[::-1])
    {'status': 'ok', 'to': 'a@x.org'}
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

SEALED = "sealed"


def seal_fields(
    record: Mapping[str, Any], names: Iterable[str], seal: Callable[[bytes], bytes]
) -> dict[str, Any]:
    """``record`` with the fields ``names`` (those present) sealed under ``"sealed"``."""
    hidden = {n: record[n] for n in names if n in record}
    out = {k: v for k, v in record.items() if k not in hidden}
    if hidden:
        out[SEALED] = base64.b64encode(seal(orjson.dumps(hidden))).decode()
    return out


def open_fields(record: Mapping[str, Any], unseal: Callable[[bytes], bytes]) -> dict[str, Any]:
    """``record`` with its sealed fields back in place (a record without is returned as
    it is).  ``unseal``'s errors (Shredded, KeyUnavailable, SealError) pass through."""
    sealed = record.get(SEALED)
    if not isinstance(sealed, str):
        return dict(record)
    hidden = orjson.loads(unseal(base64.b64decode(sealed)))
    out = {k: v for k, v in record.items() if k != SEALED}
    out.update(hidden)
    return out
