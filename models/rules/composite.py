"""Composite rules: several conditions combined with ``all`` / ``any`` / ``not``, joined
on shared labels ("CPU high and latency high for the same service").

A composite does not look at samples.  It reads the *states* of other rules, by name:
a condition holds for a join key (the values of the ``join_on`` labels) while some alert of
that rule with those label values is firing.  So any rule kind that emits alerts can be
a condition (threshold, predict, anomaly now; event rules as soon as their transitions
are fed in with ``observe``), and hysteresis, ``for:`` and learned bands stay where they
are defined.  Conditions written inline in a composite are ordinary rules named
``<composite>#<n>`` whose alerts feed the composite only and are never emitted::

    >>> from models.alerting.alert import Alert
    >>> spec = CompositeSpec(alert="Overloaded", join_on=("service",), expr=AllOf((Ref("Cpu"),
    ...     Ref("Latency"))), for_=0.0, severity="critical", labels={}, annotations={})
    >>> ev = CompositeEvaluator([spec])
    >>> def fire(rule, service):
    ...     return Alert(tenant="t", labels={"alertname": rule, "service": service,
    ...                  "tenant": "t"}, ends_at=2000.0)
    >>> len(ev.observe([fire("Cpu", "api"), fire("Latency", "db")], now=1000.0))  # passed on
    2
    >>> ev.evaluate(1000.0)[0]
    []
    >>> _ = ev.observe([fire("Latency", "api")], now=1001.0)
    >>> [(a.labels["service"], a.status) for a in ev.evaluate(1001.0)[0]]
    [('api', 'firing')]

The composite fires once its expression has held for ``for:`` and resolves when it stops
holding.  A member alert counts until it resolves or its ``ends_at`` passes (a series
that stops reporting drops out, as its own alert does).  The composite's own state is a
``SeriesState`` per join key, persisted like a windowed rule's; the members are rebuilt
after a restart from the restored states of the rules they come from (``restore``).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from models.alerting.alert import FIRING, RESOLVED, Alert
from models.rules.annotations import render
from models.rules.evaluator import SeriesKey, SeriesState
from models.rules.sample import LabelKey
from models.rules.spec import AnomalySpec, RuleSpec, WindowedSpec


@dataclass(frozen=True, slots=True)
class Ref:
    """Holds while an alert of rule ``rule`` fires for the join key."""

    rule: str


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Expr


Expr = Ref | AllOf | AnyOf | Not


def holds(expr: Expr, firing: Callable[[str], bool]) -> bool:
    """The expression's truth, given which referenced rules fire."""
    if isinstance(expr, Ref):
        return firing(expr.rule)
    if isinstance(expr, AllOf):
        return all(holds(p, firing) for p in expr.parts)
    if isinstance(expr, AnyOf):
        return any(holds(p, firing) for p in expr.parts)
    return not holds(expr.part, firing)


def references(expr: Expr) -> list[str]:
    """The rule names an expression reads, in order of appearance."""
    if isinstance(expr, Ref):
        return [expr.rule]
    if isinstance(expr, Not):
        return references(expr.part)
    return [name for p in expr.parts for name in references(p)]


@dataclass(frozen=True, slots=True, kw_only=True)
class CompositeSpec:
    """A composite rule as the evaluator needs it (built by ``app.config.rules``)."""

    kind: Literal["composite"] = "composite"
    alert: str
    join_on: tuple[str, ...]
    expr: Expr
    for_: float
    severity: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    inner: tuple[RuleSpec, ...] = field(default=())  # inline conditions (``<alert>#<n>``)


def leaf_specs(specs: Iterable[Any]) -> list[Any]:
    """Every rule that reads samples: the non-composite rules and the composites' inline
    conditions (what the windowed and anomaly evaluators are built from)."""
    out: list[Any] = []
    for spec in specs:
        if isinstance(spec, CompositeSpec):
            out.extend(spec.inner)
        else:
            out.append(spec)
    return out


JoinKey = tuple[str, str, LabelKey]  # tenant, composite, the ``join_on`` labels' values


class CompositeSet:
    """One set of composites (the default, or a tenant's own), indexed by the rules they
    read, with every rule spec they may read by name (for ``restore``)."""

    def __init__(
        self, rules: Iterable[CompositeSpec], inputs: Mapping[str, RuleSpec] | None = None
    ) -> None:
        self.rules = {r.alert: r for r in rules}
        self.inputs: dict[str, RuleSpec] = dict(inputs or {})
        self.readers: dict[str, list[CompositeSpec]] = defaultdict(list)
        self.hidden: set[str] = set()  # inline conditions: their alerts are not emitted
        for rule in self.rules.values():
            for name in dict.fromkeys(references(rule.expr)):
                self.readers[name].append(rule)
            for inner in rule.inner:
                self.hidden.add(inner.alert)
                self.inputs[inner.alert] = inner


class CompositeEvaluator:
    """Member alerts per join key of every composite, and each key's own state."""

    def __init__(
        self, rules: Iterable[CompositeSpec], inputs: Mapping[str, RuleSpec] | None = None
    ) -> None:
        self.default = CompositeSet(rules, inputs)
        self.by_tenant: dict[str, CompositeSet] = {}  # tenants with their own rules
        # every inline condition's name so far: a swapped-out one's last alerts stay in
        self.hidden = set(self.default.hidden)
        # join key -> rule name -> member fingerprint -> ends_at (0: until resolved)
        self.members: dict[JoinKey, dict[str, dict[str, float]]] = {}
        self.state: dict[SeriesKey, SeriesState] = {}
        self.dirty: set[JoinKey] = set()
        self.expiry: list[tuple[float, JoinKey, str, str]] = []  # lazy heap

    def rules_of(self, tenant: str) -> CompositeSet:
        return self.by_tenant.get(tenant, self.default)

    def owns(self, key: SeriesKey) -> bool:
        """Whether a persisted series state is a composite's own."""
        return key[1] in self.rules_of(key[0]).rules

    def observe(self, alerts: Iterable[Alert], now: float) -> list[Alert]:
        """Take rule alerts (firing and resolved); returns those to emit: all but the
        inline conditions'.  Composites are judged by ``evaluate``."""
        if not self.default.readers and not self.by_tenant:
            return alerts if isinstance(alerts, list) else list(alerts)
        out: list[Alert] = []
        for alert in alerts:
            name = alert.name
            rules = self.rules_of(alert.tenant)
            if name not in self.hidden:
                out.append(alert)
            for rule in rules.readers.get(name, ()):
                self._member(rule, alert, name)
        return out

    def set_rules(
        self, tenant: str | None, specs: Iterable[Any], now: float
    ) -> tuple[list[Alert], set[SeriesKey]]:
        """Swap the composites of one tenant (None: the default set), given all its rule
        specs.  An unchanged composite keeps its members and state; a changed or removed
        one's firing keys resolve.  Returns the alerts to emit and the keys dropped."""
        specs = list(specs)
        new = CompositeSet(
            (s for s in specs if isinstance(s, CompositeSpec)),
            {s.alert: s for s in leaf_specs(specs)},
        )
        self.hidden |= new.hidden
        if tenant is None:
            old, self.default = self.default, new
        else:
            old, self.by_tenant[tenant] = self.rules_of(tenant), new

        def affected(t: str) -> bool:
            return t == tenant if tenant is not None else t not in self.by_tenant

        alerts: list[Alert] = []
        dropped: set[SeriesKey] = set()
        for key in [k for k in self.members.keys() | self.state.keys() if affected(k[0])]:
            rule = old.rules.get(key[1])
            if rule is None or new.rules.get(key[1]) == rule:
                continue
            state = self.state.pop(key, None)
            if state is not None:
                if state.firing:
                    alerts.append(self._alert(rule, key, RESOLVED, state, now, {}))
                dropped.add(key)
            self.members.pop(key, None)
        return alerts, dropped

    def _member(self, rule: CompositeSpec, alert: Alert, name: str) -> None:
        labels = alert.labels
        key = (alert.tenant, rule.alert, tuple((n, labels.get(n, "")) for n in rule.join_on))
        by_rule = self.members.setdefault(key, {})
        members = by_rule.setdefault(name, {})
        if alert.status == FIRING:
            members[alert.fingerprint] = alert.ends_at
            if alert.ends_at:
                heapq.heappush(self.expiry, (alert.ends_at, key, name, alert.fingerprint))
        else:
            members.pop(alert.fingerprint, None)
        self.dirty.add(key)

    def restore(self, key: SeriesKey, state: SeriesState, now: float) -> None:
        """A series state restored after a restart: a composite's own, or, if firing, a
        member of the composites that read its rule (valid as long as the rule's own
        alert would be)."""
        if self.owns(key):
            self.state[key] = state
            self.dirty.add(key)
            return
        if not state.firing:
            return
        rules = self.rules_of(key[0])
        spec = rules.inputs.get(key[1])
        if spec is None or not rules.readers.get(spec.alert):
            return
        tenant = key[0]
        ends_at = 0.0
        if isinstance(spec, WindowedSpec):
            ends_at = now + 4 * spec.window + spec.grace
        elif not isinstance(spec, AnomalySpec):
            return
        labels = {**dict(key[2]), **spec.labels, "alertname": spec.alert, "tenant": tenant}
        labels["severity"] = spec.severity
        self.observe([Alert(tenant=tenant, labels=labels, ends_at=ends_at)], now)

    def evaluate(self, now: float) -> tuple[list[Alert], dict[SeriesKey, SeriesState]]:
        """Judge the join keys whose members changed or expired, and those pending for
        their ``for:``; returns alerts to emit and the states that changed."""
        expiry = self.expiry
        while expiry and expiry[0][0] <= now:
            ends_at, key, name, fp = heapq.heappop(expiry)
            members = self.members.get(key, {}).get(name)
            if members is not None and members.get(fp) == ends_at:
                del members[fp]
                self.dirty.add(key)
        due = self.dirty | {k for k, s in self.state.items() if not s.firing}
        self.dirty = set()
        alerts: list[Alert] = []
        changed: dict[SeriesKey, SeriesState] = {}
        for key in due:
            self._judge(key, now, alerts, changed)
        return alerts, changed

    def _judge(
        self,
        key: JoinKey,
        now: float,
        alerts: list[Alert],
        changed: dict[SeriesKey, SeriesState],
    ) -> None:
        rule = self.rules_of(key[0]).rules.get(key[1])
        if rule is None:
            self.state.pop(key, None)
            self.members.pop(key, None)
            return
        by_rule = self.members.get(key, {})
        live = [ends for members in by_rule.values() for ends in members.values()]
        state = self.state.get(key)
        if not holds(rule.expr, lambda name: bool(by_rule.get(name))):
            if state is not None:
                if state.firing:
                    alerts.append(self._alert(rule, key, RESOLVED, state, now, by_rule))
                del self.state[key]
                changed[key] = SeriesState()  # cleared: the caller deletes it
            if not live:
                self.members.pop(key, None)
            return
        if state is None:
            state = self.state[key] = SeriesState()
        before = (state.pending_since, state.firing)
        state.pending_since = state.pending_since or now
        if now - state.pending_since >= rule.for_:
            state.firing = True
            ends_at = 0.0 if 0.0 in live else max(live, default=0.0)
            alerts.append(self._alert(rule, key, FIRING, state, ends_at, by_rule))
        if (state.pending_since, state.firing) != before:
            changed[key] = state

    @staticmethod
    def _alert(
        rule: CompositeSpec,
        key: JoinKey,
        status: str,
        state: SeriesState,
        ends_at: float,
        by_rule: Mapping[str, Mapping[str, float]],
    ) -> Alert:
        tenant = key[0]
        labels = {
            **dict(key[2]),
            **rule.labels,
            "alertname": rule.alert,
            "severity": rule.severity,
            "tenant": tenant,
        }
        firing = sorted(name for name, members in by_rule.items() if members)
        annotations = {
            k: render(v, labels=labels, rule=rule.alert, firing=firing)
            for k, v in rule.annotations.items()
        }
        return Alert(
            tenant=tenant,
            labels=labels,
            annotations=annotations,
            status=status,
            starts_at=state.pending_since,
            ends_at=ends_at,
            source=f"composite:{rule.alert}",
        )

    def forget_tenants(self, keep: Callable[[str], bool]) -> None:
        """Drop state of tenants whose partitions this worker no longer owns."""
        self.members = {k: v for k, v in self.members.items() if keep(k[0])}
        self.state = {k: v for k, v in self.state.items() if keep(k[0])}
        self.dirty = {k for k in self.dirty if keep(k[0])}
        self.expiry = [e for e in self.expiry if keep(e[1][0])]
        heapq.heapify(self.expiry)
