"""The event rules of the partitions one worker owns: events in, alerts out.  No Kafka.

Events go to the rules that read their type; a timer pass ticks every rule for every
tenant.  A tenant's clock is event time, as the metric windows' is: the newest event
timestamp it has sent (never ahead of the wall clock), so a backlog read after a
restart is judged as it happened (no dead man's switch fires for heartbeats still
queued), and the wall clock once the tenant has sent nothing for ``idle`` seconds (so
absence is noticed when everything stops).  Transitions become alerts labelled and
annotated as the metric rules' are: the rule's labels, ``alertname``, ``severity``,
``tenant`` and the key's labels; annotations are templates that see ``labels``,
``value``, ``rule`` and ``since``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from models.alerting.alert import RESOLVED, Alert
from models.rules.annotations import render
from models.rules.event import Event
from models.rules.events import EventRule, EventSpec, Transition, make_event_rule
from models.rules.sample import LabelKey


class EventEvaluator:
    def __init__(self, specs: Iterable[EventSpec], idle: float = 5.0) -> None:
        self.idle = idle
        self.rules: dict[str, EventRule] = {}
        self.by_type: dict[str, list[EventRule]] = defaultdict(list)
        self.any_type: list[EventRule] = []
        for spec in specs:
            rule = self.rules[spec.alert] = make_event_rule(spec)
            types = rule.types
            if types is None:
                self.any_type.append(rule)
            for t in types or ():
                self.by_type[t].append(rule)
        self.watermark: dict[str, float] = {}  # tenant -> newest event timestamp
        self.last_seen: dict[str, float] = {}  # tenant -> wall clock of its latest record

    def add(self, events: Iterable[Event], now: float) -> list[Alert]:
        """Feed one record's events; the alerts they fire or resolve."""
        changes: list[Transition] = []
        for e in events:
            self.last_seen[e.tenant] = now
            if e.ts > self.watermark.get(e.tenant, -math.inf):
                self.watermark[e.tenant] = e.ts
            for rule in (*self.by_type.get(e.type, ()), *self.any_type):
                changes += rule.learn_one(e)
        return [self.alert(c) for c in changes]

    def clock(self, tenant: str, now: float) -> float:
        if now - self.last_seen.get(tenant, -math.inf) >= self.idle:
            return now
        return min(self.watermark.get(tenant, -math.inf), now)

    def tick(self, now: float) -> list[Alert]:
        """A timer pass: windows slide, sequences expire, silences become absences."""
        changes: list[Transition] = []
        for rule in self.rules.values():
            for tenant in rule.tenants():
                at = self.clock(tenant, now)
                if at > -math.inf:  # a restored tenant waits for its first event or idle
                    changes += rule.tick(tenant, at)
        return [self.alert(c) for c in changes]

    def alert(self, change: Transition) -> Alert:
        spec = self.rules[change.rule].spec
        labels = {
            **dict(change.key),
            **spec.labels,
            "alertname": spec.alert,
            "severity": spec.severity,
            "tenant": change.tenant,
        }
        annotations = {
            k: render(v, labels=labels, value=change.value, rule=spec.alert, since=change.since)
            for k, v in spec.annotations.items()
        }
        resolved = change.status == RESOLVED
        return Alert(
            tenant=change.tenant,
            labels=labels,
            annotations=annotations,
            status=change.status,
            starts_at=change.since,
            ends_at=change.at if resolved else 0.0,
            source=f"event-rule:{spec.alert}",
        )

    # --- persistence: the caller writes what changed, and loads it back ---------------
    def changed(self) -> Iterator[tuple[str, str, LabelKey, list[Any] | None]]:
        """(tenant, rule, key, state or None when gone) of every key changed since the
        last call."""
        for name, rule in self.rules.items():
            dirty, rule.dirty = rule.dirty, set()
            for tenant, key in dirty:
                yield tenant, name, key, rule.to_wire(tenant, key)

    def restore(self, tenant: str, rule: str, key: LabelKey, data: list[Any], now: float) -> bool:
        """Load one key's state; False if its rule no longer exists.  The tenant counts as
        seen now, so its clock stays at its event time for ``idle`` seconds: long enough
        for a backlog to start arriving before an absence is judged by the wall clock."""
        r = self.rules.get(rule)
        if r is None:
            return False
        r.restore(tenant, key, data)
        self.last_seen.setdefault(tenant, now)
        return True

    def forget_tenants(self, keep: Callable[[str], bool]) -> None:
        for rule in self.rules.values():
            rule.forget_tenants(keep)
        for per_tenant in (self.watermark, self.last_seen):
            for tenant in [t for t in per_tenant if not keep(t)]:
                del per_tenant[tenant]
