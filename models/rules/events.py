"""Event rules: count, sequence and absence over events, per key.  Pure logic, no Kafka.

Every kind has the same small API, so the worker, a test and a backtest drive it alike::

    rule = make_event_rule(spec)
    changes = rule.learn_one(event)          # fired/resolved by this event
    changes += rule.tick(tenant, now)        # fired/resolved by time passing
    rule.dirty, rule.to_wire(tenant, key), rule.restore(tenant, key, data)

``learn_one`` and ``tick`` return ``Transition``s; ``EventEvaluator`` (``event_eval``)
turns them into alerts.  Time is event time: ``learn_one`` reads the event's ``ts``
and ``tick`` the time it is given, so a replay of history behaves as the live stream.

* **count**: matching events per key in a sliding window (``5 failed logins for one
  user within 5m``) or a tumbling one; ``distinct: <label>`` counts distinct values
  instead.  Fires when the count reaches the condition, resolves when it no longer
  holds (sliding: as events leave the window; tumbling: at the close of a window that
  did not hold).  Only the most recent N items are kept (N = the count that fires): the
  window holds at least N iff the N-th most recent item is still in it.
* **sequence**: step A, then B (then C...) for the same key within ``within``, in that
  order.  Fires on the last step; resolves ``resolve_after`` later.
* **absence**: no matching event for a key for ``for`` (a dead man's switch).  Fires
  once the key has been silent that long; resolves when an event for it returns.  Only
  keys seen at least once are watched.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, ClassVar, Literal

import orjson

from models.alerting.alert import FIRING, RESOLVED
from models.rules.event import Event
from models.rules.event_match import EventMatch, FieldCondition, group_key, types_of, value_of
from models.rules.sample import LabelKey


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRuleSpec:
    """What every event rule has: its alert, and the key it judges per."""

    alert: str
    severity: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    group_by: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CountSpec(EventRuleSpec):
    kind: Literal["count"] = "count"
    match: EventMatch
    window: float
    sliding: bool
    op: Literal[">", ">="]
    threshold: float
    distinct: str | None  # count distinct values of this label / fields.<path>


@dataclass(frozen=True, slots=True, kw_only=True)
class SequenceSpec(EventRuleSpec):
    kind: Literal["sequence"] = "sequence"
    steps: tuple[EventMatch, ...]
    within: float
    resolve_after: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsenceSpec(EventRuleSpec):
    kind: Literal["absence"] = "absence"
    match: EventMatch
    for_: float


EventSpec = CountSpec | SequenceSpec | AbsenceSpec


def spec_digest(spec: EventSpec) -> str:
    """A digest of a rule's definition, the same in every process: stored with each
    key's state, so that only the rule that wrote a state adopts it after a restart."""
    canonical = orjson.dumps(_canonical(spec), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


def _canonical(v: Any) -> Any:
    if is_dataclass(v):
        return {f.name: _canonical(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, FieldCondition):
        return [v.field, v.op, _canonical(v.value)]
    if isinstance(v, frozenset | set):
        return sorted(map(_canonical, v), key=orjson.dumps)
    if isinstance(v, Mapping):
        return {str(k): _canonical(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_canonical(x) for x in v]
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return str(v)  # a Matcher: its text


@dataclass(frozen=True, slots=True)
class Transition:
    """A key of a rule fired or resolved.  ``since`` is when its condition began (the
    alert's start), ``at`` when this change happened, ``value`` what was measured:
    the count, the seconds the sequence took, the seconds of silence."""

    rule: str
    tenant: str
    key: LabelKey
    status: str
    since: float
    at: float
    value: float


class EventRule(ABC):
    """State per (tenant, key) in ``states``; keys changed since the caller last looked
    are in ``dirty`` (``to_wire`` gives None for a key that is gone)."""

    kind: ClassVar[str]

    def __init__(self, spec: EventSpec) -> None:
        self.spec = spec
        self.digest = spec_digest(spec)
        self.states: dict[str, dict[LabelKey, Any]] = {}  # tenant -> key -> state
        self.dirty: set[tuple[str, LabelKey]] = set()

    @property
    def types(self) -> frozenset[str] | None:
        """The event types this rule reads (None: any)."""
        return types_of([self.spec.match])  # type: ignore[union-attr]

    @abstractmethod
    def learn_one(self, event: Event) -> list[Transition]: ...

    @abstractmethod
    def tick(self, tenant: str, now: float) -> list[Transition]: ...

    @abstractmethod
    def new_state(self) -> Any: ...

    @abstractmethod
    def measure(self, st: list[Any], now: float) -> float:
        """What a firing key's alert reports as its value when it is sent again."""

    def _state(self, event: Event) -> tuple[LabelKey, Any]:
        key = group_key(event, self.spec.group_by)
        per = self.states.setdefault(event.tenant, {})
        st = per.get(key)
        if st is None:
            st = per[key] = self.new_state()
        self.dirty.add((event.tenant, key))
        return key, st

    def _change(
        self, tenant: str, key: LabelKey, status: str, since: float, at: float, value: float
    ) -> Transition:
        return Transition(self.spec.alert, tenant, key, status, since, at, value)

    def _drop(self, tenant: str, key: LabelKey) -> None:
        self.states[tenant].pop(key, None)
        self.dirty.add((tenant, key))

    def to_wire(self, tenant: str, key: LabelKey) -> list[Any] | None:
        st = self.states.get(tenant, {}).get(key)
        return None if st is None else list(st)

    def restore(self, tenant: str, key: LabelKey, data: list[Any]) -> None:
        """``data`` as ``to_wire`` gave it, read back from JSON (where -inf is null)."""
        state = [-math.inf if v is None else v for v in data]
        self.states.setdefault(tenant, {})[key] = state

    def tenants(self) -> list[str]:
        return list(self.states)

    def retire(self, tenant: str, now: float) -> list[Transition]:
        """The rule stops for ``tenant`` (removed or changed): every key is dropped, and
        those firing resolve."""
        out = [
            self._change(tenant, key, RESOLVED, st[SINCE], now, math.nan)
            for key, st in self.states.get(tenant, {}).items()
            if st[FIRING_]
        ]
        self.dirty |= {(tenant, key) for key in self.states.pop(tenant, {})}
        return out

    def forget_tenants(self, keep: Callable[[str], bool]) -> None:
        self.states = {t: v for t, v in self.states.items() if keep(t)}
        self.dirty = {d for d in self.dirty if keep(d[0])}


# State layouts are short lists (they are written as JSON on every change).
# count:    [firing, since, start, items]  items: [[item, ts], ...] by ts; start: tumbling
# sequence: [firing, since, partials, completed]  partials: [start, last] | None per step
#           but the last; completed: when the sequence last completed
# absence:  [firing, since, last]
FIRING_, SINCE = 0, 1


class CountRule(EventRule):
    kind = "count"
    spec: CountSpec

    def __init__(self, spec: CountSpec) -> None:
        super().__init__(spec)
        t = spec.threshold
        self.need = max(1, math.floor(t) + 1 if spec.op == ">" else math.ceil(t))

    def new_state(self) -> list[Any]:
        return [False, 0.0, -math.inf, []]

    def measure(self, st: list[Any], now: float) -> float:
        return len(st[3])

    def learn_one(self, event: Event) -> list[Transition]:
        spec = self.spec
        if not spec.match.matches(event):
            return []
        item = None
        if spec.distinct is not None:
            item = value_of(event, spec.distinct)
            if item is None:
                return []
        key, st = self._state(event)
        out: list[Transition] = []
        ts = event.ts
        if not spec.sliding:
            if ts < st[2]:  # a window already closed
                return out
            self._roll(event.tenant, key, st, ts, out)
        items: list[list[Any]] = st[3]
        if item is not None:
            for i, (seen, seen_ts) in enumerate(items):
                if seen == item:
                    ts = max(ts, seen_ts)
                    del items[i]
                    break
        bisect.insort(items, [item, ts], key=_ts)
        if spec.sliding:
            horizon = items[-1][1] - spec.window
            while items and items[0][1] <= horizon:
                items.pop(0)
        del items[: -self.need]
        if len(items) >= self.need and not st[FIRING_]:
            st[FIRING_], st[SINCE] = True, event.ts
            out.append(self._change(event.tenant, key, FIRING, event.ts, event.ts, len(items)))
        return out

    def _roll(self, tenant: str, key: LabelKey, st: list[Any], ts: float, out: list) -> None:
        """Tumbling: close the window ``st`` holds if ``ts`` is past it."""
        w = self.spec.window
        start = ts - ts % w
        if st[2] >= start:
            return
        held = len(st[3]) >= self.need and st[2] + w >= start
        if st[FIRING_] and not held:
            at = st[2] + w if len(st[3]) < self.need else st[2] + 2 * w
            st[FIRING_] = False
            out.append(self._change(tenant, key, RESOLVED, st[SINCE], at, len(st[3])))
        st[2], st[3] = start, []

    def tick(self, tenant: str, now: float) -> list[Transition]:
        out: list[Transition] = []
        for key, st in list(self.states.get(tenant, {}).items()):
            before = (st[FIRING_], len(st[3]), st[2])
            if self.spec.sliding:
                items = st[3]
                while items and items[0][1] <= now - self.spec.window:
                    items.pop(0)
                if st[FIRING_] and len(items) < self.need:
                    st[FIRING_] = False
                    out.append(self._change(tenant, key, RESOLVED, st[SINCE], now, len(items)))
            else:
                self._roll(tenant, key, st, now, out)
            if not st[FIRING_] and not st[3]:
                self._drop(tenant, key)
            elif before != (st[FIRING_], len(st[3]), st[2]):
                self.dirty.add((tenant, key))
        return out


def _ts(item: list[Any]) -> float:
    return item[1]


class SequenceRule(EventRule):
    kind = "sequence"
    spec: SequenceSpec

    @property
    def types(self) -> frozenset[str] | None:
        return types_of(self.spec.steps)

    def new_state(self) -> list[Any]:
        return [False, 0.0, [None] * (len(self.spec.steps) - 1), 0.0]

    def measure(self, st: list[Any], now: float) -> float:
        return st[3] - st[SINCE]

    def learn_one(self, event: Event) -> list[Transition]:
        steps = self.spec.steps
        hits = [j for j, step in enumerate(steps) if step.matches(event)]
        if not hits:
            return []
        key, st = self._state(event)
        partials: list[list[float] | None] = st[2]
        ts = event.ts
        out: list[Transition] = []
        # last step first, so one event that matches two steps does not take both
        for j in reversed(hits):
            if j == 0:
                p = partials[0]
                if p is None or ts >= p[0]:  # the latest start leaves the most time
                    partials[0] = [ts, ts]
                continue
            prev = partials[j - 1]
            if prev is None or ts < prev[1] or ts - prev[0] > self.spec.within:
                continue
            if j < len(steps) - 1:
                p = partials[j]
                if p is None or prev[0] >= p[0]:
                    partials[j] = [prev[0], ts]
                continue
            partials[j - 1] = None
            if st[FIRING_]:
                st[SINCE] = max(st[SINCE], prev[0])
            else:
                st[FIRING_], st[SINCE] = True, prev[0]
                out.append(self._change(event.tenant, key, FIRING, prev[0], ts, ts - prev[0]))
            st[3] = ts
        return out

    def tick(self, tenant: str, now: float) -> list[Transition]:
        out: list[Transition] = []
        within = self.spec.within
        for key, st in list(self.states.get(tenant, {}).items()):
            partials = st[2]
            live = [p if p is not None and now - p[0] <= within else None for p in partials]
            changed = live != partials
            st[2] = live
            if st[FIRING_] and now - st[3] >= self.spec.resolve_after:
                st[FIRING_] = False
                changed = True
                out.append(self._change(tenant, key, RESOLVED, st[SINCE], now, st[3] - st[SINCE]))
            if not st[FIRING_] and not any(live):
                self._drop(tenant, key)
            elif changed:
                self.dirty.add((tenant, key))
        return out


class AbsenceRule(EventRule):
    kind = "absence"
    spec: AbsenceSpec

    def new_state(self) -> list[Any]:
        return [False, 0.0, -math.inf]

    def measure(self, st: list[Any], now: float) -> float:
        return now - st[2]

    def learn_one(self, event: Event) -> list[Transition]:
        if not self.spec.match.matches(event):
            return []
        key, st = self._state(event)
        last, st[2] = st[2], max(st[2], event.ts)
        if not st[FIRING_]:
            return []
        st[FIRING_] = False
        return [self._change(event.tenant, key, RESOLVED, st[SINCE], event.ts, event.ts - last)]

    def tick(self, tenant: str, now: float) -> list[Transition]:
        out: list[Transition] = []
        for_ = self.spec.for_
        for key, st in self.states.get(tenant, {}).items():
            if not st[FIRING_] and now - st[2] >= for_:
                st[FIRING_], st[SINCE] = True, st[2] + for_
                self.dirty.add((tenant, key))
                out.append(self._change(tenant, key, FIRING, st[SINCE], now, now - st[2]))
        return out


_KINDS: dict[str, type[EventRule]] = {
    "count": CountRule,
    "sequence": SequenceRule,
    "absence": AbsenceRule,
}


def make_event_rule(spec: EventSpec) -> EventRule:
    return _KINDS[spec.kind](spec)


def event_rules(specs: Iterable[EventSpec]) -> list[EventRule]:
    return [make_event_rule(s) for s in specs]
