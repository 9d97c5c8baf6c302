"""Audit entries: who did what, when, from where, on which tenant, with what outcome.

An action is first an *audit request* (any process may write one to the
``audit.requests`` topic); the one owner of the tenant's partition turns it into an
*entry* of the tenant's chain by giving it the next sequence number, the hash of the
previous entry and its own hash. The hash covers every stored field (the canonical
JSON of the entry without ``hash``), as an RFC 6962 leaf, so the chain and the Merkle
tree share one hash per entry.

Who acted, from where, on what and with which details (credential ids, client
addresses, user names) are sealed under the tenant's data key before the request is
written (``SEALED_FIELDS``, as ``models/protection/fields.py`` seals them), so erasing a
tenant shreds them; the hash covers the sealed form, so a log verifies without keys::

    >>> req = request(tenant="acme", at=1.0, actor="token:bob", action="ack")
    >>> hidden = sealed_request(req, lambda raw: raw[::-1])  # stands in for the sealer
    >>> sorted(check_request(hidden))
    ['action', 'at', 'outcome', 'sealed', 'tenant']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from models.audit.merkle import leaf_hash
from models.protection.fields import SEALED, seal_fields

GLOBAL = "*"  # the tenant of actions bound to none (key rotation, a global config load)
GENESIS = "0" * 64  # the "previous hash" of a tenant's first entry
ENTRY = "entry"
CHECKPOINT = "checkpoint"

REQUEST_FIELDS = ("tenant", "at", "actor", "action", "target", "source", "outcome", "detail")
_TEXT = ("tenant", "actor", "action", "target", "source", "outcome")
# who, from where, on what: what identifies people (a token id as a target, a person
# an escalation paged in the detail); what stays clear is enough to verify, and to
# query by tenant, action, time and outcome without keys
SEALED_FIELDS = ("actor", "source", "target", "detail")


class AuditError(ValueError):
    """An audit request that cannot be chained; the message lists every reason."""


def request(
    *,
    tenant: str | None,
    at: float,
    actor: str,
    action: str,
    target: str = "",
    source: str = "",
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An audit request as it travels on ``audit.requests``."""
    return {
        "tenant": tenant or GLOBAL,
        "at": at,
        "actor": actor,
        "action": action,
        "target": target,
        "source": source,
        "outcome": outcome,
        "detail": detail or {},
    }


def sealed_request(req: dict[str, Any], seal: Callable[[bytes], bytes]) -> dict[str, Any]:
    """``req`` with its identifying fields sealed (``seal``: the tenant's sealer)."""
    return seal_fields(req, SEALED_FIELDS, seal)


def check_request(item: Any) -> dict[str, Any]:
    """The request as it will be chained (only the known fields; a sealed request keeps
    its ``sealed`` blob instead of the fields in it), or AuditError naming every bad
    field."""
    if not isinstance(item, dict):
        raise AuditError("audit request: expected a JSON object")
    hidden = SEALED in item
    errors = [f"{k}: expected a string" for k in _TEXT if not isinstance(item.get(k, ""), str)]
    errors += [f"{k}: required" for k in ("tenant", "actor", "action") if not item.get(k)]
    if hidden:
        errors = [e for e in errors if e != "actor: required"]
        if not isinstance(item[SEALED], str) or not item[SEALED]:
            errors.append(f"{SEALED}: expected a sealed value (base64)")
    at = item.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float) or at < 0:
        errors.append("at: expected epoch seconds")
    if not isinstance(item.get("detail", {}), dict):
        errors.append("detail: expected an object")
    if errors:
        raise AuditError("; ".join(errors))
    shown = [k for k in _TEXT if not (hidden and k in SEALED_FIELDS)]
    out = {k: item.get(k, "") for k in shown}
    out["at"] = float(at)  # type: ignore[arg-type]
    if hidden:
        out[SEALED] = item[SEALED]
    else:
        out["detail"] = item.get("detail") or {}
    return out


def canonical(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers: every field but ``hash``, keys sorted."""
    return orjson.dumps(
        {k: v for k, v in entry.items() if k != "hash"}, option=orjson.OPT_SORT_KEYS
    )


def entry_hash(entry: dict[str, Any]) -> str:
    return leaf_hash(canonical(entry))


def chain_entry(req: dict[str, Any], seq: int, prev: str, origin: str) -> dict[str, Any]:
    """The stored entry for a checked request: ``origin`` names the request record it
    came from (``partition:offset:index``), so a request applied again after a crash is
    recognised and not chained twice."""
    entry = {"kind": ENTRY, **req, "seq": seq, "prev": prev, "origin": origin}
    entry["hash"] = entry_hash(entry)
    return entry
