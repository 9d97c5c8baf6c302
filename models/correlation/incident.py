"""Incidents: alerts of one outage, as one record with a lifecycle.

An incident starts as a *candidate* (``pending``) with its first alert; it opens once
it holds ``min_alerts`` firing members (a lone alert is not an incident, Keep #4318),
may be acknowledged, and is resolved when no member fires any more or by hand.  A
resolved incident takes no new alerts (Keep #2481); a member that fires again keeps
counting until the incident is resolved.  Each member records how it joined: the
rule that matched, or the learned link (cause -> effect kind) and its score.

Pure logic: the correlator (``models/correlation/correlator.py``) decides who joins;
the runtime persists the header and each member as separate records, so a storm
joining one incident writes O(1) per alert.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PENDING = "pending"
OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
STATUSES = (PENDING, OPEN, ACKNOWLEDGED, RESOLVED)

FIRST = "first"  # how the alert that started an incident joined it
SPLIT = "split"  # moved into a new incident by hand
MERGED = "merged"  # moved from another incident by hand


def incident_id(*parts: str) -> str:
    """A deterministic id: the same input replayed after a crash makes the same one."""
    return hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).hexdigest()


@dataclass(slots=True)
class Member:
    """One alert in an incident and how it got there."""

    fingerprint: str
    kind: str  # alertname (or the configured kind label)
    labels: dict[str, str]
    joined_at: float
    how: str  # a rule name, "learned", FIRST, SPLIT or MERGED
    cause: str | None = None  # learned: the member kind the link comes from
    score: float | None = None  # learned: the link's score
    firing: bool = True

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "labels": self.labels,
            "joined_at": self.joined_at,
            "how": self.how,
            "firing": self.firing,
        }
        if self.cause is not None:
            out["cause"] = self.cause
            out["score"] = self.score
        return out

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Member:
        return cls(
            d["fingerprint"],
            d["kind"],
            d["labels"],
            d["joined_at"],
            d["how"],
            d.get("cause"),
            d.get("score"),
            d.get("firing", True),
        )


@dataclass(slots=True, eq=False)  # one record per incident: compared by identity
class Incident:
    id: str
    tenant: str
    partition: int
    started_at: float
    last_at: float  # when its last alert joined (or fired again)
    min_alerts: int = 2  # firing members needed to open
    status: str = PENDING
    members: dict[str, Member] = field(default_factory=dict)
    firing: int = 0
    root_cause: str | None = None
    opened_at: float = 0.0  # 0 while a candidate
    acknowledged_by: str = ""
    resolved_at: float = 0.0
    resolved_by: str = ""  # "" while open; "alerts" when all members resolved
    index_keys: set[Any] = field(default_factory=set)  # correlator's index entries
    # kept as members come and go, so the title costs O(1) per batch, not O(members)
    kind_counts: Counter[str] = field(default_factory=Counter)
    _common: dict[str, str] | None = None  # labels all members share; None: no members

    @property
    def alive(self) -> bool:
        """Takes new alerts: not resolved."""
        return self.status != RESOLVED

    @property
    def visible(self) -> bool:
        """An incident proper (it opened), not a candidate."""
        return self.opened_at > 0

    # --- lifecycle (each returns True when the status changed) ---------------------------
    def add(self, member: Member) -> bool:
        known = self.members.get(member.fingerprint)
        if known is not None:
            return self.fired(member.fingerprint, member.joined_at)
        self.restore(member)
        self.last_at = max(self.last_at, member.joined_at)
        return self._maybe_open()

    def restore(self, member: Member) -> None:
        """A member back in (from the table, a merge or a split): counts only."""
        self.members[member.fingerprint] = member
        self.firing += member.firing
        self.kind_counts[member.kind] += 1
        labels = member.labels
        if self._common is None:
            self._common = {k: v for k, v in labels.items() if k not in ("alertname", "tenant")}
        elif self._common:
            self._common = {k: v for k, v in self._common.items() if labels.get(k) == v}

    def fired(self, fingerprint: str, t: float) -> bool:
        m = self.members[fingerprint]
        self.last_at = max(self.last_at, t)
        if not m.firing:
            m.firing = True
            self.firing += 1
        return self._maybe_open()

    def member_resolved(self, fingerprint: str, t: float) -> bool:
        """A member stopped firing; the incident resolves when none fires."""
        m = self.members.get(fingerprint)
        if m is None or not m.firing:
            return False
        m.firing = False
        self.firing -= 1
        if self.firing <= 0 and self.status != RESOLVED:
            self.status, self.resolved_at, self.resolved_by = RESOLVED, t, "alerts"
            return True
        return False

    def _recount(self) -> None:
        """Counts from the members again, after some left (a split)."""
        members = list(self.members.values())
        self.members, self.firing, self.kind_counts, self._common = {}, 0, Counter(), None
        for m in members:
            self.restore(m)

    def _maybe_open(self) -> bool:
        if self.status == PENDING and self.firing >= self.min_alerts:
            self.status, self.opened_at = OPEN, self.last_at
            return True
        return False

    def acknowledge(self, user: str) -> bool:
        if self.status not in (PENDING, OPEN):
            return False
        self.status, self.acknowledged_by = ACKNOWLEDGED, user
        return True

    def resolve(self, t: float, user: str) -> bool:
        if self.status == RESOLVED:
            return False
        self.status, self.resolved_at, self.resolved_by = RESOLVED, t, user or "user"
        return True

    def absorb(self, other: Incident) -> list[Member]:
        """Merge by hand: ``other``'s members move here (their ``how`` kept); ``other``
        is left empty and resolved. Returns the moved members."""
        moved = [m for fp, m in other.members.items() if fp not in self.members]
        for m in moved:
            self.restore(m)
        self.started_at = min(self.started_at, other.started_at)
        self.last_at = max(self.last_at, other.last_at)
        if self.status == RESOLVED and self.firing:
            self.status, self.resolved_at, self.resolved_by = OPEN, 0.0, ""
        elif self.status == PENDING and other.visible:
            self.status, self.opened_at = OPEN, other.opened_at
        other.members, other.firing, other.kind_counts, other._common = {}, 0, Counter(), None
        other.resolve(self.last_at, f"merged into {self.id}")
        return moved

    def split_off(self, fingerprints: list[str], new_id: str, t: float) -> Incident:
        """Split by hand: the named members leave for a new open incident."""
        out = Incident(
            new_id, self.tenant, self.partition, t, t, min_alerts=1, status=OPEN, opened_at=t
        )
        for fp in fingerprints:
            m = self.members.pop(fp)
            self.firing -= m.firing
            m.how, m.cause, m.score = SPLIT, None, None
            out.restore(m)
            out.started_at = min(out.started_at, m.joined_at)
        self._recount()
        if self.firing <= 0 and self.status != RESOLVED:
            self.resolve(t, "alerts")
        if out.firing <= 0:
            out.resolve(t, "alerts")
        return out

    # --- what people read ----------------------------------------------------------------
    def kinds(self) -> Counter[str]:
        return self.kind_counts

    def common_labels(self) -> dict[str, str]:
        """Labels every member shares (besides alertname), for the title."""
        return dict(self._common or {})

    def title(self) -> str:
        kinds = self.kinds()
        if not kinds:
            return f"incident {self.id}"
        lead = self.root_cause or kinds.most_common(1)[0][0]
        others = len(self.members) - kinds.get(lead, 0)
        text = lead + (f" and {others} more alert{'s' * (others != 1)}" if others else "")
        where = self.common_labels()
        if where:
            text += " on " + ", ".join(f"{k}={v}" for k, v in sorted(where.items())[:3])
        return text

    def summary(self) -> str:
        kinds = self.kinds()
        parts = ", ".join(f"{k} x{n}" for k, n in kinds.most_common(8))
        more = len(kinds) - 8
        if more > 0:
            parts += f" and {more} more kinds"
        cause = f"; probable root cause: {self.root_cause}" if self.root_cause else ""
        return f"{len(self.members)} alerts ({self.firing} firing): {parts}{cause}"

    # --- records ----------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        """The incident without its members (each member is its own record)."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "partition": self.partition,
            "status": self.status,
            "started_at": self.started_at,
            "last_at": self.last_at,
            "min_alerts": self.min_alerts,
            "root_cause": self.root_cause,
            "opened_at": self.opened_at,
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": self.resolved_at,
            "resolved_by": self.resolved_by,
        }

    @classmethod
    def from_header(cls, d: dict[str, Any]) -> Incident:
        return cls(
            d["id"],
            d["tenant"],
            d["partition"],
            d["started_at"],
            d["last_at"],
            min_alerts=d.get("min_alerts", 2),
            status=d["status"],
            root_cause=d.get("root_cause"),
            opened_at=d.get("opened_at", 0.0),
            acknowledged_by=d.get("acknowledged_by", ""),
            resolved_at=d.get("resolved_at", 0.0),
            resolved_by=d.get("resolved_by", ""),
        )

    def to_wire(self, members: bool = True) -> dict[str, Any]:
        """What the API, the CLI and the `incidents` topic show."""
        out = {
            **self.header(),
            "title": self.title(),
            "summary": self.summary(),
            "alerts": len(self.members),
            "firing": self.firing,
        }
        del out["partition"]
        if members:
            ordered = sorted(self.members.values(), key=lambda m: (m.joined_at, m.fingerprint))
            out["members"] = [m.to_wire() for m in ordered]
        return out
