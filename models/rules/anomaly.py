"""Anomaly rules: every sample of a series scored by its own online detector.

Score first, then learn (never the future).  A series fires when its score reaches the
rule's threshold after the warm-up, and resolves after ``resolve_after`` normal points
in a row.  Out-of-order and duplicated timestamps are skipped (a model must not learn a
point twice).  Models and series state are returned as dirty keys for the caller to
checkpoint, so a restarted worker continues where it stopped instead of re-warming.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from models.alerting.alert import FIRING, RESOLVED, Alert
from models.detectors import Detector, make_detector
from models.detectors.base import State
from models.rules.annotations import render
from models.rules.sample import Sample
from models.rules.spec import AnomalySpec

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]


@dataclass(slots=True)
class AnomalySeries:
    model: Detector
    seen: int = 0
    last_ts: float = -math.inf
    firing: bool = False
    normal_streak: int = 0
    started: float = 0.0

    def to_wire(self) -> dict[str, Any]:
        return {
            "m": self.model.to_state(),
            "n": self.seen,
            "t": self.last_ts,
            "f": self.firing,
            "k": self.normal_streak,
            "s": self.started,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> AnomalySeries:
        return cls(State.from_state(d["m"]), d["n"], d["t"], d["f"], d["k"], d["s"])


class AnomalyEvaluator:
    def __init__(self, rules: Iterable[AnomalySpec]) -> None:
        rules = list(rules)
        # the default rules, and those of tenants with their own (``set_rules``)
        self.by_metric = _by_metric(rules)
        self.by_tenant: dict[str, dict[str, list[AnomalySpec]]] = {}
        self.sets: dict[str | None, list[AnomalySpec]] = {None: rules}
        self.series: dict[SeriesKey, AnomalySeries] = {}
        self.dirty: set[SeriesKey] = set()
        self.transitions: set[SeriesKey] = set()  # fired or resolved since last cleared
        self.skipped = 0  # out-of-order or duplicated points
        self.scored = 0  # points scored by a detector: rule evaluations (/metrics)

    def add(self, samples: Iterable[Sample], now: float) -> list[Alert]:
        alerts: list[Alert] = []
        default = by_metric = self.by_metric
        by_tenant = self.by_tenant
        tenant = None
        scored = 0
        for s in samples:
            if s.tenant is not tenant:
                tenant = s.tenant
                by_metric = by_tenant.get(tenant, default) if by_tenant else default
            rules = by_metric.get(s.name)
            if not rules:
                continue
            for rule in rules:
                if rule.match and any(s.labels.get(k) != v for k, v in rule.match.items()):
                    continue
                key: SeriesKey = (s.tenant, rule.alert, s.key)
                series = self.series.get(key)
                if series is None:
                    model = make_detector(rule.detector, **rule.params)
                    series = self.series[key] = AnomalySeries(model)
                if s.ts <= series.last_ts:
                    self.skipped += 1
                    continue
                alert = self._step(rule, key, series, s, now)
                scored += 1
                if alert is not None:
                    alerts.append(alert)
                    self.transitions.add(key)
                self.dirty.add(key)
        self.scored += scored  # once per batch
        return alerts

    def _step(
        self, rule: AnomalySpec, key: SeriesKey, series: AnomalySeries, s: Sample, now: float
    ) -> Alert | None:
        expected = series.model.expected_range()
        score = series.model.score_one(s.value, s.ts)
        series.model.learn_one(s.value, s.ts)
        series.seen += 1
        series.last_ts = s.ts
        if series.seen <= rule.warmup:
            return None
        if score >= rule.threshold:
            series.normal_streak = 0
            if series.firing:
                return None
            series.firing, series.started = True, s.ts
            return self._alert(rule, key, s, score, expected, FIRING, now)
        if series.firing:
            series.normal_streak += 1
            if series.normal_streak >= rule.resolve_after:
                series.firing, series.normal_streak = False, 0
                return self._alert(rule, key, s, score, expected, RESOLVED, now)
        return None

    @staticmethod
    def _alert(
        rule: AnomalySpec,
        key: SeriesKey,
        s: Sample,
        score: float,
        expected: tuple[float, float] | None,
        status: str,
        now: float,
    ) -> Alert:
        labels = {
            **s.labels,
            **rule.labels,
            "alertname": rule.alert,
            "severity": rule.severity,
            "tenant": key[0],
        }
        own = {"anomaly_score": f"{score:.3f}", "value": f"{s.value:.6g}"}
        if expected is not None:
            own["expected_range"] = f"{expected[0]:.6g} .. {expected[1]:.6g}"
        lo, hi = expected if expected is not None else (math.nan, math.nan)
        annotations = {
            **own,
            **{
                k: render(v, labels=labels, value=s.value, score=score, lower=lo, upper=hi)
                for k, v in rule.annotations.items()
            },
        }
        return Alert(
            tenant=key[0],
            labels=labels,
            annotations=annotations,
            status=status,
            starts_at=s.ts if status == FIRING else 0.0,
            ends_at=now if status == RESOLVED else 0.0,
            source=f"anomaly:{rule.alert}",
        )

    @property
    def active(self) -> bool:
        """Whether any tenant has an anomaly rule (the agent skips scoring otherwise)."""
        return bool(self.by_metric) or any(self.by_tenant.values())

    def set_rules(
        self, tenant: str | None, rules: Iterable[AnomalySpec], now: float
    ) -> tuple[list[Alert], set[SeriesKey]]:
        """Swap the anomaly rules of one tenant (None: the default rules), as
        ``RuleEvaluator.set_rules`` does: an unchanged rule's series keep their learned
        models; a changed or removed rule's series start afresh, a firing one resolves.
        Returns the alerts to emit and the series dropped."""
        old = self.sets.get(tenant, self.sets[None]) if tenant is not None else self.sets[None]
        new = list(rules)
        overridden = set(self.by_tenant)
        gone = {r.alert: r for r in old if r not in new}
        alerts: list[Alert] = []
        dropped: set[SeriesKey] = set()
        for key, series in list(self.series.items()):
            rule = gone.get(key[1])
            if rule is None or (key[0] != tenant if tenant is not None else key[0] in overridden):
                continue
            if series.firing:
                labels = {
                    **dict(key[2]),
                    **rule.labels,
                    "alertname": rule.alert,
                    "severity": rule.severity,
                    "tenant": key[0],
                }
                alerts.append(
                    Alert(
                        tenant=key[0],
                        labels=labels,
                        annotations={},
                        status=RESOLVED,
                        starts_at=0.0,
                        ends_at=now,
                        source=f"anomaly:{rule.alert}",
                    )
                )
            del self.series[key]
            self.dirty.discard(key)
            dropped.add(key)
        if tenant is None:
            self.sets[None], self.by_metric = new, _by_metric(new)
        else:
            self.sets[tenant], self.by_tenant[tenant] = new, _by_metric(new)
        return alerts, dropped

    def restore(self, key: SeriesKey, data: dict[str, Any]) -> None:
        self.series[key] = AnomalySeries.from_wire(data)

    def forget_tenants(self, keep: Callable[[str], bool]) -> None:
        self.series = {k: v for k, v in self.series.items() if keep(k[0])}
        self.dirty = {k for k in self.dirty if keep(k[0])}


def _by_metric(rules: Iterable[AnomalySpec]) -> dict[str, list[AnomalySpec]]:
    out: dict[str, list[AnomalySpec]] = defaultdict(list)
    for rule in rules:
        out[rule.metric].append(rule)
    return out
