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

from models.alerting.alert import FIRING, RESOLVED, Alert
from models.rules.annotations import render
from models.rules.event import Event
from models.rules.events import EventRule, EventSpec, Transition, make_event_rule
from models.rules.sample import LabelKey


class RuleSet:
    """The event rules one tenant runs (or the default set), indexed by event type."""

    def __init__(self, rules: Iterable[EventRule]) -> None:
        self.rules: dict[str, EventRule] = {r.spec.alert: r for r in rules}
        self.by_type: dict[str, list[EventRule]] = defaultdict(list)
        self.any_type: list[EventRule] = []
        for rule in self.rules.values():
            types = rule.types
            if types is None:
                self.any_type.append(rule)
            for t in types or ():
                self.by_type[t].append(rule)

    def reading(self, event_type: str) -> tuple[EventRule, ...]:
        return (*self.by_type.get(event_type, ()), *self.any_type)


class EventEvaluator:
    """Rule sets: the default (``pipelines.yaml``) and each tenant's own, swapped at run
    time by ``set_rules``.  A rule object holds the state of every tenant that runs it;
    a tenant whose set keeps a rule unchanged keeps its state."""

    def __init__(self, specs: Iterable[EventSpec], idle: float = 5.0, resend: float = 60.0) -> None:
        self.idle = idle
        self.resend = resend
        self.sets: dict[str | None, RuleSet] = {None: RuleSet(map(make_event_rule, specs))}
        self.watermark: dict[str, float] = {}  # tenant -> newest event timestamp
        self.last_seen: dict[str, float] = {}  # tenant -> wall clock of its latest record
        self.retired: list[Alert] = []  # resolved by set_rules, sent with the next tick
        self.judged = 0  # events fed to a rule: rule evaluations (/metrics)
        # stored state of rules a tenant does not run (yet): a tenant's own config may be
        # read after its partition's state, and adopts it then
        self.parked: dict[tuple[str, str], dict[LabelKey, tuple[str, list[Any]]]] = {}
        # firing keys -> (their rule, when their alert was last sent)
        self.firing: dict[tuple[int, str, LabelKey], tuple[EventRule, float]] = {}

    def rules_of(self, tenant: str) -> RuleSet:
        return self.sets.get(tenant) or self.sets[None]

    def all_rules(self) -> list[EventRule]:
        return list({id(r): r for s in self.sets.values() for r in s.rules.values()}.values())

    def add(self, events: Iterable[Event], now: float) -> list[Alert]:
        """Feed one record's events; the alerts they fire or resolve."""
        alerts: list[Alert] = []
        judged = 0
        for e in events:
            self.last_seen[e.tenant] = now
            if e.ts > self.watermark.get(e.tenant, -math.inf):
                self.watermark[e.tenant] = e.ts
            rules = self.rules_of(e.tenant).reading(e.type)
            judged += len(rules)
            for rule in rules:
                alerts += self._alerts(rule, rule.learn_one(e), now)
        self.judged += judged  # once per batch
        return alerts

    def set_rules(self, tenant: str | None, specs: Iterable[EventSpec], now: float) -> None:
        """Swap the rules of one tenant (None: the default rules of every tenant without
        its own), between two batches.  An unchanged rule keeps its windows, sequences
        and silences; a changed or removed rule's keys are dropped (their stored state
        deleted by the next ``changed()``) and those firing resolve (``retired``)."""
        old = self.sets[None] if tenant is None else self.rules_of(tenant)
        known = {id(r): r for r in self.all_rules()}
        new = []
        for spec in specs:
            same = next((r for r in known.values() if r.spec == spec), None)
            new.append(same if same is not None else make_event_rule(spec))
        kept = {id(r) for r in new}
        overridden = set(self.sets) - {None}
        for rule in old.rules.values():
            if id(rule) in kept:
                continue
            for t in rule.tenants():
                if t == tenant if tenant is not None else t not in overridden:
                    self.retired += self._alerts(rule, rule.retire(t, now), now)
        self.sets[tenant] = RuleSet(new)
        for t, name in list(self.parked):
            rule = self.rules_of(t).rules.get(name)
            if rule is not None:
                for key, (digest, state) in self.parked.pop((t, name)).items():
                    if digest == rule.digest:
                        self._adopt(rule, t, key, state)
                    else:  # written by another definition: deleted from the table
                        rule.dirty.add((t, key))

    def clock(self, tenant: str, now: float) -> float:
        if now - self.last_seen.get(tenant, -math.inf) >= self.idle:
            return now
        return min(self.watermark.get(tenant, -math.inf), now)

    def tick(self, now: float) -> list[Alert]:
        """A timer pass: windows slide, sequences expire, silences become absences."""
        alerts, self.retired = self.retired, []
        for rule in self.all_rules():
            for tenant in rule.tenants():
                at = self.clock(tenant, now)
                if at > -math.inf:  # a restored tenant waits for its first event or idle
                    alerts += self._alerts(rule, rule.tick(tenant, at), now)
        return alerts + self._resend(now)

    def _alerts(self, rule: EventRule, changes: list[Transition], now: float) -> list[Alert]:
        """The alerts of ``changes``; a firing one is valid for 4 resend intervals."""
        out = []
        for change in changes:
            k = (id(rule), change.tenant, change.key)
            if change.status == FIRING:
                self.firing[k] = (rule, now)
            else:
                self.firing.pop(k, None)
            out.append(transition_alert(rule.spec, change, now + 4 * self.resend))
        return out

    def _resend(self, now: float) -> list[Alert]:
        """Firing alerts again, every ``resend`` seconds, as Prometheus re-sends its
        firing alerts: each is valid for 4 intervals, so an alert whose rule is gone
        (or whose worker is) resolves by itself in the alert path."""
        due = [(k, rule) for k, (rule, sent) in self.firing.items() if now - sent >= self.resend]
        out: list[Alert] = []
        for k, rule in due:
            _, tenant, key = k
            st = rule.states.get(tenant, {}).get(key)
            if st is None or not st[0]:
                del self.firing[k]
                continue
            value = rule.measure(st, now)
            change = Transition(rule.spec.alert, tenant, key, FIRING, st[1], now, value)
            out += self._alerts(rule, [change], now)
        return out

    def _adopt(self, rule: EventRule, tenant: str, key: LabelKey, state: list[Any]) -> None:
        """Stored state back into its rule; a firing key is re-sent at the next tick."""
        rule.restore(tenant, key, state)
        if state[0]:
            self.firing[(id(rule), tenant, key)] = (rule, -math.inf)

    # --- persistence: the caller writes what changed, and loads it back ---------------
    def changed(self) -> Iterator[tuple[str, str, LabelKey, list[Any] | None]]:
        """(tenant, rule, key, stored form or None when gone) of every key changed since
        the last call.  The stored form is [the rule's digest, its state]."""
        for rule in self.all_rules():
            dirty, rule.dirty = rule.dirty, set()
            for tenant, key in dirty:
                state = rule.to_wire(tenant, key)
                yield tenant, rule.spec.alert, key, None if state is None else [rule.digest, state]

    def restore(self, tenant: str, rule: str, key: LabelKey, stored: list[Any], now: float) -> str:
        """Load one key's stored form (from ``changed``): "restored"; "stale" when the
        tenant's rule of that name is now defined otherwise (the caller deletes it); or
        "parked" when the tenant runs no rule of that name (a tenant's own config may be
        read after its state, and adopts it then).  The tenant counts as seen now, so its
        clock stays at its event time for ``idle`` seconds: long enough for a backlog to
        start arriving before an absence is judged by the wall clock."""
        self.last_seen.setdefault(tenant, now)
        digest, state = stored
        r = self.rules_of(tenant).rules.get(rule)
        if r is None:
            self.parked.setdefault((tenant, rule), {})[key] = (digest, state)
            return "parked"
        if digest != r.digest:
            return "stale"
        self._adopt(r, tenant, key, state)
        return "restored"

    def forget_tenants(self, keep: Callable[[str], bool]) -> None:
        for rule in self.all_rules():
            rule.forget_tenants(keep)
        self.parked = {k: v for k, v in self.parked.items() if keep(k[0])}
        self.firing = {k: v for k, v in self.firing.items() if keep(k[1])}
        for per_tenant in (self.watermark, self.last_seen):
            for tenant in [t for t in per_tenant if not keep(t)]:
                del per_tenant[tenant]


def transition_alert(spec: EventSpec, change: Transition, valid_until: float) -> Alert:
    """The alert of a fired or resolved key, labelled and annotated as metric rules' are;
    a firing one ends at ``valid_until`` unless it is sent again."""
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
        ends_at=change.at if resolved else valid_until,
        source=f"event-rule:{spec.alert}",
    )
