"""Silences with Alertmanager's semantics (``silence/silence.go``, API v2), indexed.

A ``Silence`` mutes alerts whose labels satisfy all its matchers while it is active:
pending before ``starts_at``, active in ``[starts_at, ends_at)``, expired from
``ends_at``.  Our addition: ``time_intervals`` (names of ``time_intervals``) make a
silence *recurring*: while active it mutes only inside one of those intervals
(Alertmanager #214 / #3339).  ``tenant`` (when set) restricts it to alerts whose
``tenant`` label equals it.

``SilenceIndex`` keeps many silences and answers ``mutes(labels, now)`` without a
scan: each silence is filed under one literal matcher (``name="value"``, or each
alternative of ``name=~"a|b"``); only silences without one are scanned.  A query
costs one dict lookup per alert label plus a full check of the candidates.
Expired silences leave the index at once and storage after ``retention`` (GC).
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from models.suppression.matchers import Matcher, MatcherError, is_valid_label_name, matches_all
from models.suppression.timeintervals import NamedTimeIntervals
from models.wire import WireError, format_time, parse_time

PENDING, ACTIVE, EXPIRED = "pending", "active", "expired"
DEFAULT_RETENTION = 120 * 3600.0  # Alertmanager's --data.retention default


class SilenceError(ValueError):
    """An invalid silence or operation; the message follows Alertmanager's."""


class SilenceNotFound(SilenceError):
    pass


@dataclass(slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""
    updated_at: float = 0.0
    time_intervals: tuple[str, ...] = ()
    tenant: str = ""

    # --- state ----------------------------------------------------------------------
    def state(self, now: float) -> str:
        if now < self.starts_at:
            return PENDING
        if now < self.ends_at:
            return ACTIVE
        return EXPIRED

    def is_active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.tenant and labels.get("tenant", "") != self.tenant:
            return False
        return matches_all(self.matchers, labels)

    def mutes(
        self,
        labels: Mapping[str, str],
        now: float,
        intervals: Mapping[str, NamedTimeIntervals] | None = None,
    ) -> bool:
        if not (self.starts_at <= now < self.ends_at) or not self.matches(labels):
            return False
        return not self.time_intervals or self.in_window(now, intervals or {})

    def in_window(self, now: float, intervals: Mapping[str, NamedTimeIntervals]) -> bool:
        """Recurring silences: inside one of the named intervals (unknown names never)."""
        if not self.time_intervals:
            return True
        for name in self.time_intervals:
            ti = intervals.get(name)
            if ti is not None and ti.contains(now):
                return True
        return False

    # --- validation -----------------------------------------------------------------
    def validate(self) -> None:
        """Alertmanager's ``validateSilence``; raises SilenceError."""
        if not self.matchers:
            raise SilenceError("at least one matcher required")
        for i, m in enumerate(self.matchers):
            if not is_valid_label_name(m.name):
                raise SilenceError(f'invalid label matcher {i}: invalid label name "{m.name}"')
        if all(m.matches_empty() for m in self.matchers):
            raise SilenceError("at least one matcher must not match the empty string")
        if not self.starts_at:
            raise SilenceError("invalid zero start timestamp")
        if not self.ends_at:
            raise SilenceError("invalid zero end timestamp")
        if self.ends_at < self.starts_at:
            raise SilenceError("end time must not be before start time")

    def validate_new(self, now: float, intervals: Iterable[str] | None = None) -> None:
        """The API v2 checks for a posted silence, then ``validate``."""
        if not self.created_by:
            raise SilenceError("createdBy missing")
        if not self.comment:
            raise SilenceError("comment missing")
        if self.starts_at >= self.ends_at:
            raise SilenceError("start time must be before end time")
        if self.ends_at < now:
            raise SilenceError("end time can't be in the past")
        if intervals is not None:
            known = set(intervals)
            for name in self.time_intervals:
                if name not in known:
                    raise SilenceError(f'undefined time interval "{name}" used in silence')
        self.validate()

    # --- API v2 JSON ----------------------------------------------------------------
    def to_api(self, now: float | None = None) -> dict[str, Any]:
        """``GettableSilence``."""
        now = time.time() if now is None else now
        out: dict[str, Any] = {
            "id": self.id,
            "status": {"state": self.state(now)},
            "updatedAt": format_time(self.updated_at),
            "comment": self.comment,
            "createdBy": self.created_by,
            "endsAt": format_time(self.ends_at),
            "matchers": [m.to_api() for m in self.matchers],
            "startsAt": format_time(self.starts_at),
        }
        if self.time_intervals:
            out["timeIntervals"] = list(self.time_intervals)
        return out

    @classmethod
    def from_api(cls, obj: Any, now: float | None = None, tenant: str = "") -> Silence:
        """A ``PostableSilence`` (id optional: empty means create). Validates shape only;
        call ``validate_new`` for the API's rules."""
        if not isinstance(obj, Mapping):
            raise SilenceError("silence: expected a JSON object")
        now = time.time() if now is None else now
        raw_matchers = obj.get("matchers")
        if not isinstance(raw_matchers, list):
            raise SilenceError("matchers in body is required")
        try:
            matchers = tuple(Matcher.from_api(m) for m in raw_matchers)
        except MatcherError as exc:
            raise SilenceError(str(exc)) from None
        try:
            starts = parse_time(obj.get("startsAt"), "startsAt") if obj.get("startsAt") else 0.0
            ends = parse_time(obj.get("endsAt"), "endsAt") if obj.get("endsAt") else 0.0
        except WireError as exc:
            raise SilenceError(str(exc)) from None
        intervals = obj.get("timeIntervals") or ()
        if not isinstance(intervals, list | tuple) or not all(
            isinstance(x, str) for x in intervals
        ):
            raise SilenceError("timeIntervals: expected a list of interval names")
        return cls(
            id=str(obj.get("id") or ""),
            matchers=matchers,
            starts_at=starts,
            ends_at=ends,
            created_by=str(obj.get("createdBy") or ""),
            comment=str(obj.get("comment") or ""),
            updated_at=now,
            time_intervals=tuple(intervals),
            tenant=tenant or str(obj.get("tenant") or ""),
        )

    # --- compact storage ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "i": self.id,
            "m": [m.to_tuple() for m in self.matchers],
            "s": self.starts_at,
            "e": self.ends_at,
            "u": self.updated_at,
        }
        if self.created_by:
            d["b"] = self.created_by
        if self.comment:
            d["c"] = self.comment
        if self.time_intervals:
            d["t"] = list(self.time_intervals)
        if self.tenant:
            d["n"] = self.tenant
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Silence:
        return cls(
            id=d["i"],
            matchers=tuple(Matcher(*m) for m in d["m"]),
            starts_at=d["s"],
            ends_at=d["e"],
            updated_at=d.get("u", 0.0),
            created_by=d.get("b", ""),
            comment=d.get("c", ""),
            time_intervals=tuple(d.get("t", ())),
            tenant=d.get("n", ""),
        )


def _index_options(s: Silence) -> list[list[tuple[str, str]]]:
    """Each literal matcher as a list of (name, value) keys the labels must carry one of."""
    out = []
    for m in s.matchers:
        vals = m.literal_values()
        if vals is None or "" in vals:
            continue
        out.append([(m.name, v) for v in vals])
    if s.tenant:
        out.append([("tenant", s.tenant)])
    return out


class SilenceIndex:
    """Many silences; ``mutes(labels, now)`` via an index on literal matchers.

    ``intervals`` resolves the names of recurring silences (update it with
    ``set_intervals`` when the config reloads)."""

    def __init__(
        self,
        intervals: Mapping[str, NamedTimeIntervals] | None = None,
        retention: float = DEFAULT_RETENTION,
    ) -> None:
        self.intervals: Mapping[str, NamedTimeIntervals] = intervals or {}
        self.retention = retention
        self._by_id: dict[str, Silence] = {}
        self._eq: dict[str, dict[str, dict[str, Silence]]] = {}
        self._scan: dict[str, Silence] = {}
        self._indexed: dict[str, list[tuple[str, str]] | None] = {}
        self.version = 0  # bumped on every change: callers can cache results by it
        self._boundaries: list[float] = []  # starts/ends to come (min-heap, lazy)
        self._recurring: set[str] = set()  # ids of silences with time intervals

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, sid: str) -> bool:
        return sid in self._by_id

    def get(self, sid: str) -> Silence | None:
        return self._by_id.get(sid)

    def set_intervals(self, intervals: Mapping[str, NamedTimeIntervals]) -> None:
        self.intervals = intervals
        self.version += 1

    # --- index maintenance ----------------------------------------------------------
    def _bucket_size(self, keys: list[tuple[str, str]]) -> int:
        return sum(len(self._eq.get(n, {}).get(v, ())) for n, v in keys)

    def _index(self, s: Silence) -> None:
        # File the silence under its most selective literal matcher: the one whose
        # buckets hold the fewest silences now (``alertname`` is shared by many
        # silences, ``instance`` by few), so a query checks few candidates.
        options = _index_options(s)
        keys = min(options, key=self._bucket_size) if options else None
        self._indexed[s.id] = keys
        if keys is None:
            self._scan[s.id] = s
            return
        for name, value in keys:
            self._eq.setdefault(name, {}).setdefault(value, {})[s.id] = s

    def _unindex(self, sid: str) -> None:
        if sid not in self._indexed:
            return
        keys = self._indexed.pop(sid)
        if keys is None:
            self._scan.pop(sid, None)
            return
        for name, value in keys:
            by_value = self._eq.get(name)
            if by_value is None:
                continue
            bucket = by_value.get(value)
            if bucket is not None:
                bucket.pop(sid, None)
                if not bucket:
                    del by_value[value]
                    if not by_value:
                        del self._eq[name]

    # --- mutation -------------------------------------------------------------------
    def put(self, s: Silence, now: float | None = None) -> None:
        """Store as is (restore from the table, or replication); no validation."""
        now = time.time() if now is None else now
        self._unindex(s.id)
        self._by_id[s.id] = s
        if s.ends_at > now:
            self._index(s)
            for t in (s.starts_at, s.ends_at):
                if t > now:
                    heapq.heappush(self._boundaries, t)
        if s.time_intervals:
            self._recurring.add(s.id)
        else:
            self._recurring.discard(s.id)
        self.version += 1

    def next_change(self, now: float) -> float | None:
        """When the answers of ``mutes`` may next change with time alone (a silence
        starts or ends); None if they may change at any moment (recurring silences)."""
        if self._recurring:
            return None
        heap = self._boundaries
        while heap and heap[0] <= now:
            heapq.heappop(heap)
        return heap[0] if heap else float("inf")

    def remove(self, sid: str) -> bool:
        """Forget a silence entirely (deleted from the table). Returns True if it was here."""
        if sid not in self._by_id:
            return False
        self._unindex(sid)
        del self._by_id[sid]
        self._recurring.discard(sid)
        self.version += 1
        return True

    def upsert(self, s: Silence, now: float | None = None) -> str:
        """Alertmanager's ``Silences.Set``: create (new uuid) or update; an update that
        cannot be done in place (matchers changed, an active silence's start moved,
        or the old one expired) expires the old silence and creates a new one.
        Returns the id in effect. Raises SilenceError / SilenceNotFound."""
        now = time.time() if now is None else now
        s.validate()
        s.updated_at = now
        prev = self._by_id.get(s.id) if s.id else None
        if s.id and prev is None:
            raise SilenceNotFound(f"silence {s.id} not found")
        if prev is not None and can_update(prev, s, now):
            self.put(s, now)
            return s.id
        if prev is not None and prev.state(now) != EXPIRED:
            self.expire(prev.id, now)
        s.id = str(uuid.uuid4())
        if s.starts_at < now:
            s.starts_at = now
        self.put(s, now)
        return s.id

    def expire(self, sid: str, now: float | None = None) -> Silence:
        """End a silence now (a pending one gets start = end = now)."""
        now = time.time() if now is None else now
        s = self._by_id.get(sid)
        if s is None:
            raise SilenceNotFound(f"silence {sid} not found")
        st = s.state(now)
        if st == EXPIRED:
            raise SilenceError(f"silence {sid} already expired")
        if st == PENDING:
            s.starts_at = now
        s.ends_at = now
        s.updated_at = now
        self._unindex(sid)
        self.version += 1
        return s

    def gc(self, now: float | None = None) -> int:
        """Drop expired silences from the index, and from storage after ``retention``.
        Returns how many were deleted from storage."""
        now = time.time() if now is None else now
        dropped = 0
        for sid, s in list(self._by_id.items()):
            if s.ends_at <= now:
                self._unindex(sid)
                if s.ends_at + self.retention <= now:
                    del self._by_id[sid]
                    dropped += 1
        if dropped:
            self.version += 1
        return dropped

    # --- queries --------------------------------------------------------------------
    def mutes(self, labels: Mapping[str, str], now: float | None = None) -> list[str]:
        """Ids of the silences muting these labels now (empty list: not silenced)."""
        now = time.time() if now is None else now
        out: list[str] = []
        eq = self._eq
        intervals = self.intervals
        for name, value in labels.items():
            by_value = eq.get(name)
            if by_value is None:
                continue
            bucket = by_value.get(value)
            if bucket is None:
                continue
            for s in bucket.values():
                if s.mutes(labels, now, intervals):
                    out.append(s.id)
        for s in self._scan.values():
            if s.mutes(labels, now, intervals):
                out.append(s.id)
        if len(out) > 1:
            out = list(dict.fromkeys(out))
        return out

    def query(
        self,
        state: str | None = None,
        filter_matchers: Iterable[Matcher] = (),
        now: float | None = None,
        tenant: str | None = None,
    ) -> list[Silence]:
        """Silences for the API list: optionally by state, by tenant, and those whose
        matchers include every filter matcher (Alertmanager's ``filter`` parameter
        checks that each filter is satisfied by the silence's equality matchers)."""
        now = time.time() if now is None else now
        fms = list(filter_matchers)
        out = []
        for s in self._by_id.values():
            if state and s.state(now) != state:
                continue
            if tenant is not None and s.tenant and s.tenant != tenant:
                continue
            if fms:
                eqs = {m.name: m.value for m in s.matchers if m.op == "="}
                if not matches_all(fms, eqs):
                    continue
            out.append(s)
        return out

    def all(self) -> list[Silence]:
        return list(self._by_id.values())

    # --- storage ----------------------------------------------------------------------
    def to_dicts(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self._by_id.values()]

    @classmethod
    def from_dicts(
        cls,
        items: Iterable[Mapping[str, Any]],
        now: float | None = None,
        **kw: Any,
    ) -> SilenceIndex:
        idx = cls(**kw)
        for d in items:
            idx.put(Silence.from_dict(d), now)
        return idx


def can_update(a: Silence, b: Silence, now: float) -> bool:
    """Alertmanager's ``canUpdate``: may ``b`` replace ``a`` under the same id (else the
    API expires ``a`` and creates ``b`` as a new silence)."""
    if a.matchers != b.matchers:
        return False
    st = a.state(now)
    if st == ACTIVE:
        return b.starts_at == a.starts_at and not b.ends_at < now
    if st == PENDING:
        return not b.starts_at < now
    return False


def new_silence(
    matchers: Iterable[Matcher],
    starts_at: float,
    ends_at: float,
    created_by: str = "",
    comment: str = "",
    time_intervals: Iterable[str] = (),
    tenant: str = "",
    now: float | None = None,
) -> Silence:
    now = time.time() if now is None else now
    return Silence(
        id=str(uuid.uuid4()),
        matchers=tuple(matchers),
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by,
        comment=comment,
        updated_at=now,
        time_intervals=tuple(time_intervals),
        tenant=tenant,
    )
