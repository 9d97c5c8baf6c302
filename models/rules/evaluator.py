"""Windowed rules (threshold, auto threshold, predict): pure logic, no Kafka.

Samples are assigned to windows by their own timestamp.  A window closes once its
tenant's samples have moved past its end plus the grace (event time: the newest sample
timestamp seen, never ahead of the wall clock), so a backlog is evaluated as it happened
instead of being dropped as late; a tenant that sends nothing for ``idle_close`` seconds
(wall clock) has its open windows closed by wall clock.  The aggregate is judged by the
rule's condition (``models.rules.conditions``).  A series fires once its condition has held
for the rule's ``for:`` duration and resolves at the first closed window where it does
not.  Open windows live in memory (a crash loses at most the open window); firing state
and the learned per-series models are returned for the caller to persist.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from models.alerting.alert import FIRING, RESOLVED, Alert
from models.rules.annotations import render
from models.rules.conditions import Context, condition_for
from models.rules.sample import LabelKey, Sample
from models.rules.spec import PredictSpec, ThresholdSpec
from models.rules.window import Aggregate, new_aggregate

SeriesKey = tuple[str, str, LabelKey]  # tenant, rule name, labels
WindowKey = tuple[str, float]  # tenant, window start: one bucket of windows, one per series
WindowedRule = ThresholdSpec | PredictSpec
_TENANT = attrgetter("tenant")
_TS = attrgetter("ts")


@dataclass(slots=True)
class SeriesState:
    """What survives a restart for one series of one rule (persisted on transitions)."""

    pending_since: float = 0.0  # 0 = condition not holding
    firing: bool = False

    def to_wire(self) -> list[float | bool]:
        return [self.pending_since, self.firing]

    @classmethod
    def from_wire(cls, data: list[float | bool]) -> SeriesState:
        return cls(float(data[0]), bool(data[1]))


class CompiledRule:
    """A rule ready to evaluate, with its open windows bucketed by tenant and start: a
    bucket holds every series of that window and closes as one."""

    __slots__ = (
        "condition",
        "for_",
        "grace",
        "hold",
        "match",
        "new_aggregate",
        "open",
        "rule",
        "window",
    )

    def __init__(self, rule: WindowedRule) -> None:
        self.rule = rule
        self.condition = condition_for(rule)
        self.hold = self.condition.hold  # hysteresis, for a pending or firing series
        self.for_ = rule.for_
        self.match = tuple(rule.match.items())
        self.new_aggregate = new_aggregate(rule.aggregate)
        self.window = rule.window
        self.grace = rule.grace
        self.open: dict[WindowKey, dict[LabelKey, Aggregate]] = {}


class RuleEvaluator:
    """Window bookkeeping for the windowed rules of the partitions one worker owns."""

    def __init__(self, rules: Iterable[WindowedRule], idle_close: float = 5.0) -> None:
        self.idle_close = idle_close
        self.compiled = [CompiledRule(rule) for rule in rules]
        # the default rules, and those of tenants with their own (``set_rules``)
        self.by_metric = _by_metric(self.compiled)
        self.by_tenant: dict[str, dict[str, list[CompiledRule]]] = {}
        self.sets: dict[str | None, list[CompiledRule]] = {None: self.compiled}
        # tenant -> close time -> windows; per tenant, because each has its own event time
        self.closes: dict[str, dict[float, list[tuple[CompiledRule, WindowKey]]]] = {}
        self.watermark: dict[str, float] = {}  # tenant -> newest sample timestamp
        self.last_seen: dict[str, float] = {}  # tenant -> wall clock of its latest batch
        self.closed_until: dict[str, float] = {}  # tenant -> windows closing by then are done
        self.state: dict[SeriesKey, SeriesState] = {}
        self.models: dict[SeriesKey, Any] = {}  # learned per-series state (auto, predict)
        self.judged = 0  # closed windows of a series judged: rule evaluations (/metrics)
        self.dirty_models: set[SeriesKey] = set()
        self.late = 0  # samples for windows already closed

    def add(self, samples: Sequence[Sample], now: float) -> int:
        """Fold one record's samples into their windows; returns how many matched a rule.

        The hot path of the metrics agent.  Tenant bookkeeping (event time, last seen) is
        done once per tenant of the batch, window bookkeeping once per bucket; per sample
        and matching rule it is two dict lookups (the bucket's dict is small; the sample's
        series key is made when it is decoded) and the aggregate's update."""
        if not samples:
            return 0
        self._saw(samples, now)
        matched = 0
        default = by_metric = self.by_metric
        by_tenant = self.by_tenant
        tenant = None
        for s in samples:
            if s.tenant is not tenant:  # a record's samples share one tenant string
                tenant = s.tenant
                by_metric = by_tenant.get(tenant, default) if by_tenant else default
            compiled = by_metric.get(s.name)
            if compiled is None:
                continue
            labels = s.labels
            ts = s.ts
            for c in compiled:
                if c.match and any(labels.get(k) != v for k, v in c.match):
                    continue
                bkey = (s.tenant, ts - ts % c.window)
                bucket = c.open.get(bkey)
                if bucket is None:
                    bucket = self._open(c, bkey)
                    if bucket is None:
                        continue
                agg = bucket.get(s.key)
                if agg is None:
                    agg = bucket[s.key] = c.new_aggregate()
                agg.add(s.value, ts)
                matched += 1
        return matched

    def _saw(self, samples: Sequence[Sample], now: float) -> None:
        """Advance each tenant's event time to its newest sample and mark it seen now."""
        tenants = set(map(_TENANT, samples))
        if len(tenants) == 1:
            newest = {tenants.pop(): max(map(_TS, samples))}
        else:
            newest = {}
            for s in samples:
                if s.ts > newest.get(s.tenant, -math.inf):
                    newest[s.tenant] = s.ts
        for tenant, ts in newest.items():
            self.last_seen[tenant] = now
            if ts > self.watermark.get(tenant, -math.inf):
                self.watermark[tenant] = ts

    def _open(self, c: CompiledRule, key: WindowKey) -> dict[LabelKey, Aggregate] | None:
        """A new bucket for ``key``, or None (the sample counted late) if it has closed."""
        tenant, start = key
        close_at = start + c.window + c.grace
        if close_at <= self.closed_until.get(tenant, -math.inf):
            self.late += 1
            return None
        bucket: dict[LabelKey, Aggregate] = {}
        c.open[key] = bucket
        self.closes.setdefault(tenant, {}).setdefault(close_at, []).append((c, key))
        return bucket

    def close(self, now: float) -> tuple[list[Alert], dict[SeriesKey, SeriesState]]:
        """Close due windows; returns alerts to emit and the series states that changed."""
        alerts: list[Alert] = []
        changed: dict[SeriesKey, SeriesState] = {}
        for tenant, closes in self.closes.items():
            idle = now - self.last_seen.get(tenant, -math.inf) >= self.idle_close
            horizon = now if idle else min(self.watermark.get(tenant, -math.inf), now)
            self.closed_until[tenant] = horizon
            for due in sorted(t for t in closes if t <= horizon):
                self._close_due(closes.pop(due), now, alerts, changed)
        return alerts, changed

    def _close_due(
        self,
        windows: list[tuple[CompiledRule, WindowKey]],
        now: float,
        alerts: list[Alert],
        changed: dict[SeriesKey, SeriesState],
    ) -> None:
        for c, key in windows:
            bucket = c.open.pop(key, None)
            if bucket is None:  # forgotten on a rebalance
                continue
            tenant, start = key
            self.judged += len(bucket)
            for lkey, agg in bucket.items():
                self._judge_window(
                    c, (tenant, c.rule.alert, lkey), start, agg, now, alerts, changed
                )

    def _judge_window(
        self,
        c: CompiledRule,
        series: SeriesKey,
        start: float,
        agg: Aggregate,
        now: float,
        alerts: list[Alert],
        changed: dict[SeriesKey, SeriesState],
    ) -> None:
        """One closed window of one series: judge it, move the series' state, alert."""
        value = agg.result(c.window)
        if math.isnan(value):
            return
        end = start + c.window
        holds, context = self._judge(c, series, value, end)
        state = self.state.get(series)
        if not holds and state is not None and c.hold is not None:
            holds = c.hold(value)
        if state is None:
            if not holds:  # the common case: nothing pending, nothing to change
                return
            state = SeriesState()
        before = (state.pending_since, state.firing)
        if holds:
            state.pending_since = state.pending_since or start
            if end - state.pending_since >= c.for_:
                state.firing = True
                alerts.append(self._alert(c, series, value, FIRING, state, now, context))
        else:
            if state.firing:
                alerts.append(self._alert(c, series, value, RESOLVED, state, now, context))
            state.pending_since, state.firing = 0.0, False
        if (state.pending_since, state.firing) != before:
            changed[series] = state
        if state.pending_since or state.firing:
            self.state[series] = state
        else:
            self.state.pop(series, None)

    def _judge(
        self, c: CompiledRule, series: SeriesKey, value: float, ts: float
    ) -> tuple[bool, Context]:
        model = self.models.get(series)
        if model is None:
            model = c.condition.new_model()
            if model is not None:
                self.models[series] = model
        if model is not None:
            self.dirty_models.add(series)
        return c.condition.judge(model, value, ts)

    @staticmethod
    def _alert(
        c: CompiledRule,
        series: SeriesKey,
        value: float,
        status: str,
        state: SeriesState,
        now: float,
        context: Context,
    ) -> Alert:
        rule = c.rule
        labels = {
            **dict(series[2]),
            **rule.labels,
            "alertname": rule.alert,
            "severity": rule.severity,
            "tenant": series[0],
        }
        variables = {k: v for k, v in context.items() if k != "annotations"}
        annotations = {
            **context.get("annotations", {}),
            **{
                k: render(v, labels=labels, value=value, rule=rule.alert, **variables)
                for k, v in rule.annotations.items()
            },
        }
        # as Prometheus does: a firing alert is valid for 4 evaluation intervals, so a
        # series that stops reporting resolves by itself
        ends_at = now if status == RESOLVED else now + 4 * rule.window + rule.grace
        return Alert(
            tenant=series[0],
            labels=labels,
            annotations=annotations,
            status=status,
            starts_at=state.pending_since,
            ends_at=ends_at,
            source=f"rule:{rule.alert}",
        )

    def set_rules(
        self, tenant: str | None, rules: Iterable[WindowedRule], now: float
    ) -> tuple[list[Alert], set[SeriesKey]]:
        """Swap the rules of one tenant (None: the default rules of every tenant without
        its own), between two batches.  A rule whose spec is unchanged keeps its compiled
        object, so its open windows, series states and learned models carry on; a changed
        rule starts with fresh windows and models (its pending or firing series carry on
        when its alerts' labels are the same); a removed rule's firing series resolve.
        Returns the alerts to emit and the series whose state or model was dropped."""
        old = self.sets.get(tenant, self.sets[None]) if tenant is not None else self.sets[None]
        known = {id(c): c for group in self.sets.values() for c in group}
        new: list[CompiledRule] = []
        for rule in rules:
            same = next((c for c in known.values() if c.rule == rule), None)
            new.append(same if same is not None else CompiledRule(rule))
        overridden = set(self.by_tenant)

        def affected(t: str) -> bool:
            return t == tenant if tenant is not None else t not in overridden

        kept = {id(c) for c in new}
        by_name = {c.rule.alert: c.rule for c in new}
        alerts: list[Alert] = []
        dropped: set[SeriesKey] = set()
        for c in old:
            if id(c) in kept:
                continue
            c.open = {k: v for k, v in c.open.items() if not affected(k[0])}
            name, successor = c.rule.alert, by_name.get(c.rule.alert)
            carry = successor is not None and (successor.labels, successor.severity) == (
                c.rule.labels,
                c.rule.severity,
            )
            for key in [k for k in self.models if k[1] == name and affected(k[0])]:
                del self.models[key]
                self.dirty_models.discard(key)
                dropped.add(key)
            for key, state in [(k, v) for k, v in self.state.items() if k[1] == name]:
                if carry or not affected(key[0]):
                    continue
                if state.firing:
                    alerts.append(self._alert(c, key, math.nan, RESOLVED, state, now, {}))
                del self.state[key]
                dropped.add(key)
        if tenant is None:
            self.sets[None], self.by_metric = new, _by_metric(new)
        else:
            self.sets[tenant], self.by_tenant[tenant] = new, _by_metric(new)
        self.compiled = list({id(c): c for group in self.sets.values() for c in group}.values())
        return alerts, dropped

    def restore(self, states: Iterable[tuple[SeriesKey, SeriesState]]) -> None:
        for key, state in states:
            self.state[key] = state

    def forget_tenants(self, keep: Callable[[str], bool]) -> None:
        """Drop state of tenants whose partitions this worker no longer owns."""
        self.state = {k: v for k, v in self.state.items() if keep(k[0])}
        for c in self.compiled:
            c.open = {k: v for k, v in c.open.items() if keep(k[0])}
        self.closes = {t: v for t, v in self.closes.items() if keep(t)}
        for per_tenant in (self.watermark, self.last_seen, self.closed_until):
            for tenant in [t for t in per_tenant if not keep(t)]:
                del per_tenant[tenant]
        self.models = {k: v for k, v in self.models.items() if keep(k[0])}
        self.dirty_models = {k for k in self.dirty_models if keep(k[0])}


def _by_metric(rules: Iterable[CompiledRule]) -> dict[str, list[CompiledRule]]:
    out: dict[str, list[CompiledRule]] = defaultdict(list)
    for c in rules:
        out[c.rule.metric].append(c)
    return out
