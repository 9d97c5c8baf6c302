"""Checking an audit log: every tenant's chain intact, every checkpoint signed and
matched, nothing missing at the end.

The log is read in the order it is stored (topic order, or line order of a dump).
Per tenant, entry ``n`` must come next with sequence ``n``, its hash must match its
content, its ``prev`` the hash of entry ``n-1``; the Merkle root after ``n`` entries
must equal the root of every checkpoint of size ``n``; and the log must hold at least
as many entries as the largest valid checkpoint (from the log or trusted from
elsewhere). The first entry that breaks a rule is named with the rule:

* edited: its hash does not match its content, or its ``prev`` the entry before it,
  or (when the whole rest of the chain was rehashed) a signed root;
* deleted: the next sequence number is absent from the log;
* reordered: it appears later in the log than an entry after it;
* truncated: a signed checkpoint covers entries the log no longer has.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from models.audit.entry import CHECKPOINT, ENTRY, GENESIS, entry_hash
from models.audit.merkle import Frontier
from models.audit.signing import check_signature

Located = tuple[str, dict[str, Any]]  # (where it is stored: "line 7", "p1@42"), record


@dataclass(frozen=True, slots=True)
class Problem:
    tenant: str
    seq: int  # the first bad entry's sequence number
    where: str  # where it is (or would be) in the log
    kind: str  # edited, deleted, reordered, truncated, checkpoint
    reason: str

    def __str__(self) -> str:
        return f"tenant {self.tenant!r} entry {self.seq} ({self.where}): {self.kind}: {self.reason}"


@dataclass(slots=True)
class Report:
    entries: dict[str, int] = field(default_factory=dict)  # tenant -> entries verified
    checkpoints: dict[str, int] = field(default_factory=dict)  # tenant -> largest signed size
    problems: list[Problem] = field(default_factory=list)  # the first one per tenant

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    records: list[Located],
    keys: dict[str, Ed25519PublicKey],
    trusted: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> Report:
    """Verify a whole log; ``trusted`` are checkpoints kept apart from it (the
    compacted ``audit.checkpoints`` topic, a saved copy), which catch a cut tail."""
    entries: defaultdict[str, list[Located]] = defaultdict(list)
    checkpoints: defaultdict[str, list[Located]] = defaultdict(list)
    report = Report()
    for where, r in records:
        kind = r.get("kind")
        if kind == ENTRY:
            entries[str(r.get("tenant"))].append((where, r))
        elif kind == CHECKPOINT:
            checkpoints[str(r.get("tenant"))].append((where, r))
        else:
            report.problems.append(Problem("?", 0, where, "edited", f"unknown record {kind!r}"))
    for cp in trusted:
        checkpoints[str(cp.get("tenant"))].append(("trusted checkpoint", cp))
    for tenant in sorted(set(entries) | set(checkpoints)):
        problem = _verify_tenant(tenant, entries[tenant], checkpoints[tenant], keys, report)
        if problem:
            report.problems.append(problem)
    return report


def _verify_tenant(
    tenant: str,
    entries: list[Located],
    checkpoints: list[Located],
    keys: dict[str, Ed25519PublicKey],
    report: Report,
) -> Problem | None:
    heads: dict[int, list[Located]] = defaultdict(list)
    for where, cp in checkpoints:
        why = check_signature(cp, keys)
        if why:
            return Problem(tenant, int(cp.get("size") or 0), where, "checkpoint", why)
        heads[int(cp["size"])].append((where, cp))
    report.checkpoints[tenant] = max(heads, default=0)
    later = {r.get("seq") for _, r in entries}
    tree, last, verified = Frontier(), GENESIS, 0  # verified: last size a root matched
    for where, e in entries:
        n = tree.size + 1
        seq = e.get("seq")
        if seq != n:
            if isinstance(seq, int) and seq < n:
                return Problem(tenant, seq, where, "reordered", f"entry {seq} after entry {n - 1}")
            if n in later:
                return Problem(tenant, n, where, "reordered", f"entry {n} stored after {seq}")
            return Problem(tenant, n, f"before {where}", "deleted", f"next stored is {seq}")
        if entry_hash(e) != e.get("hash"):
            return Problem(tenant, n, where, "edited", "content does not match its hash")
        if e.get("prev") != last:
            return Problem(tenant, n, where, "edited", f"prev is not the hash of entry {n - 1}")
        tree.append(e["hash"])
        last = e["hash"]
        for cp_where, cp in heads.get(n, []):
            if cp["root"] != tree.root():
                return Problem(
                    tenant,
                    verified + 1,
                    where,
                    "edited",
                    f"entries {verified + 1}..{n} do not match the root signed at {cp_where}",
                )
            verified = n
    report.entries[tenant] = tree.size
    if report.checkpoints[tenant] > tree.size:
        where = next(w for w, cp in heads[report.checkpoints[tenant]])
        return Problem(
            tenant,
            tree.size + 1,
            "end of log",
            "truncated",
            f"the log ends at entry {tree.size}; {where} signed {report.checkpoints[tenant]}",
        )
    return None


def matches(
    entry: dict[str, Any],
    *,
    actor: str | None = None,
    action: str | None = None,
    tenant: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> bool:
    """``audit query``'s filter: exact actor and tenant, action by prefix
    (``silence`` finds ``silence.put`` and ``silence.expire``), time in [since, until)."""
    if entry.get("kind") != ENTRY:
        return False
    at = entry.get("at", 0.0)
    return (
        (actor is None or entry.get("actor") == actor)
        and (tenant is None or entry.get("tenant") == tenant)
        and (action is None or str(entry.get("action", "")).startswith(action))
        and (since is None or at >= since)
        and (until is None or at < until)
    )
