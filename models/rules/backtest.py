"""Backtest: replay recorded samples through rules and say what they would have fired.

The replay drives the live path's own evaluators (``RuleEvaluator`` for threshold and
predict rules, ``AnomalyEvaluator`` for anomaly rules, ``EventEvaluator`` for event
rules over `events`) with event time as their clock: the ``now`` they are given is the
newest sample (or event) timestamp of the tenant, so windows close, ``for:`` durations
count and idle tenants close exactly as the worker does on a live stream whose records
carry the wall-clock time.  Each tenant gets its own
evaluators (the worker keeps a clock per tenant too), so one tenant's history read
ahead of another's cannot move the other's clock.

What fired is kept as intervals per alert (label set): when the condition began to
hold (the alert's ``startsAt``), when it fired, when it resolved (None: still firing at
the end) and how many firing evaluations it had.  ``compare`` sets two runs over the
same history side by side::

    current, candidate = RuleRun(live_spec), RuleRun(changed_spec)
    replay = Replay([current, candidate])
    for samples in history:
        replay.add(samples)
    replay.finish(until)
    diff = compare(current.intervals, candidate.intervals)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from models.alerting.alert import FIRING, Alert
from models.rules.anomaly import AnomalyEvaluator
from models.rules.evaluator import RuleEvaluator
from models.rules.event import Event
from models.rules.event_eval import EventEvaluator
from models.rules.events import EventRuleSpec, EventSpec
from models.rules.sample import LabelKey, Sample
from models.rules.spec import AnomalySpec, PredictSpec, ThresholdSpec

BacktestSpec = ThresholdSpec | PredictSpec | AnomalySpec | EventSpec
Evaluator = RuleEvaluator | AnomalyEvaluator | EventEvaluator
Item = Sample | Event
_OWN_LABELS = ("alertname", "severity")  # set by the rule, not by the series


@dataclass(slots=True)
class Interval:
    """One stretch of firing of one alert."""

    series: LabelKey  # the series' labels and tenant: the same across versions of a rule
    labels: dict[str, str]  # the alert's labels
    starts_at: float  # the alert's startsAt: when the condition began to hold
    fired_at: float  # event time of the evaluation that fired it
    resolved_at: float | None = None  # None: still firing at the end of the replay
    firings: int = 0  # firing alerts emitted (windowed rules: one per closed window)

    @property
    def end(self) -> float:
        return math.inf if self.resolved_at is None else self.resolved_at

    def same(self, other: Interval) -> bool:
        return (self.starts_at, self.resolved_at) == (other.starts_at, other.resolved_at)

    def overlaps(self, other: Interval) -> bool:
        return self.starts_at < other.end and other.starts_at < self.end

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["series"]
        return out


class RuleRun:
    """One rule replayed through the live path's evaluator, one evaluator per tenant."""

    def __init__(self, spec: BacktestSpec) -> None:
        self.spec = spec
        self.reads_events = isinstance(spec, EventRuleSpec)  # else samples of `metrics`
        self.evaluators: dict[str, Evaluator] = {}
        self.intervals: list[Interval] = []
        self.open: dict[str, Interval] = {}  # alert fingerprint -> its open interval
        self.alerts = 0  # alert records the worker would have produced

    def _evaluator(self, tenant: str) -> Evaluator:
        ev = self.evaluators.get(tenant)
        if ev is None:
            spec = self.spec
            if isinstance(spec, EventRuleSpec):
                ev = EventEvaluator([spec])
            elif isinstance(spec, AnomalySpec):
                ev = AnomalyEvaluator([spec])
            else:
                ev = RuleEvaluator([spec])
            self.evaluators[tenant] = ev
        return ev

    def add(self, tenant: str, items: Sequence[Item], clock: float) -> None:
        """One record's samples (or events) of one tenant, then what is due by ``clock``
        (the timer pass of the live agent)."""
        ev = self._evaluator(tenant)
        if isinstance(ev, AnomalyEvaluator):
            self._observe(ev.add(items, clock), clock)
        elif isinstance(ev, EventEvaluator):
            self._observe(ev.add(items, clock), clock)
            self._observe(ev.tick(clock), clock)
        else:
            ev.add(items, clock)
            self._observe(ev.close(clock)[0], clock)

    def finish(self, until: float) -> None:
        """What is due by ``until`` once every tenant is idle: windows closed, absences
        noticed, as the worker does when the wall clock passes ``until``."""
        for ev in self.evaluators.values():
            if isinstance(ev, RuleEvaluator):
                ev.last_seen.clear()
                self._observe(ev.close(until)[0], until)
            elif isinstance(ev, EventEvaluator):
                ev.last_seen.clear()
                self._observe(ev.tick(until), until)

    def _observe(self, alerts: Iterable[Alert], clock: float) -> None:
        for alert in alerts:
            self.alerts += 1
            interval = self.open.get(alert.fingerprint)
            if alert.status == FIRING:
                if interval is None:
                    interval = self.open[alert.fingerprint] = Interval(
                        series=self._series(alert.labels),
                        labels=alert.labels,
                        starts_at=alert.starts_at,
                        fired_at=clock,
                    )
                    self.intervals.append(interval)
                interval.firings += 1
            elif interval is not None:
                interval.resolved_at = alert.ends_at
                del self.open[alert.fingerprint]

    def _series(self, labels: dict[str, str]) -> LabelKey:
        own = self.spec.labels
        return tuple(
            sorted((k, v) for k, v in labels.items() if k not in own and k not in _OWN_LABELS)
        )

    def summary(self) -> dict[str, Any]:
        """Counts, and the time spent firing by the intervals that resolved."""
        return {
            "intervals": len(self.intervals),
            "series": len({i.series for i in self.intervals}),
            "alerts": self.alerts,
            "still_firing": len(self.open),
            "firing_seconds": sum(
                i.end - i.starts_at for i in self.intervals if i.resolved_at is not None
            ),
        }


class Replay:
    """Feeds the same history to several rule runs, keeping each tenant's event clock."""

    def __init__(self, runs: Sequence[RuleRun], start: float = -math.inf) -> None:
        self.runs = runs
        self.start = start
        self.clock: dict[str, float] = {}  # tenant -> newest sample timestamp
        self.samples = 0

    def add(self, samples: Sequence[Item], until: float = math.inf) -> None:
        """One record's samples or events (as the runs read); those outside
        [start, until) are not part of the history."""
        by_tenant: dict[str, list[Item]] = {}
        for s in samples:
            if self.start <= s.ts < until:
                by_tenant.setdefault(s.tenant, []).append(s)
        for tenant, batch in by_tenant.items():
            self.samples += len(batch)
            clock = max(self.clock.get(tenant, -math.inf), max(s.ts for s in batch))
            self.clock[tenant] = clock
            for run in self.runs:
                run.add(tenant, batch, clock)

    def finish(self, until: float) -> None:
        for run in self.runs:
            run.finish(until)


@dataclass(slots=True)
class Diff:
    """How a candidate rule's intervals differ from the current rule's on one history."""

    added: list[Interval] = field(default_factory=list)  # only the candidate fires
    removed: list[Interval] = field(default_factory=list)  # only the current rule fires
    changed: list[tuple[Interval, Interval]] = field(default_factory=list)  # (current, candidate)
    unchanged: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [i.to_json() for i in self.added],
            "removed": [i.to_json() for i in self.removed],
            "changed": [
                {"current": a.to_json(), "candidate": b.to_json()} for a, b in self.changed
            ],
            "unchanged": self.unchanged,
        }


def compare(current: Sequence[Interval], candidate: Sequence[Interval]) -> Diff:
    """Pair intervals of the same series: equal bounds are unchanged, overlapping ones
    changed (each paired at most once, earliest first), the rest added or removed."""
    diff = Diff()
    unpaired: dict[LabelKey, list[Interval]] = {}
    for b in sorted(candidate, key=_start_of):
        unpaired.setdefault(b.series, []).append(b)
    for a in sorted(current, key=_start_of):
        pool = unpaired.get(a.series, [])
        match = next((b for b in pool if b.same(a)), None) or next(
            (b for b in pool if b.overlaps(a)), None
        )
        if match is None:
            diff.removed.append(a)
            continue
        pool.remove(match)
        if match.same(a):
            diff.unchanged += 1
        else:
            diff.changed.append((a, match))
    diff.added = sorted((b for pool in unpaired.values() for b in pool), key=_start_of)
    return diff


def _start_of(i: Interval) -> float:
    return i.starts_at
