"""Alert priority P1-P5: computed once an alert exists, from its severity and the labels
that say how much it matters (service tier, environment).

The table is configured (``priority:`` in pipelines.yaml): a base priority per severity,
then adjustments by label matchers, applied in order and clamped to 1..5.  The result
is carried as a label (``priority="P2"``), so routes, inhibitions, silences and
escalation can match on it like on any other label::

    >>> from models.suppression.matchers import parse_matchers
    >>> table = PriorityTable({"critical": 1, "warning": 3}, default=4,
    ...                       adjustments=[Adjustment(tuple(parse_matchers('env="dev"')), 2)])
    >>> table.priority({"severity": "critical", "env": "dev"})
    'P3'

Being a label, the priority is part of the alert's identity (its fingerprint): it is a
function of the other labels, so the same alert always gets the same fingerprint while
the table is unchanged.  An alert that already carries the label (a producer's, or a
rule's ``labels: {priority: P1}``) keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from models.alerting.alert import Alert
from models.alerting.fingerprint import fingerprint
from models.suppression.matchers import Matcher, matches_all

LEVELS = range(1, 6)
_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class Adjustment:
    """Alerts matching every matcher move ``by`` levels (negative: more urgent)."""

    matchers: tuple[Matcher, ...]
    by: int


class PriorityTable:
    """Assigns the priority label on the alert path (``AlertRuntime.ingest_record``),
    where producers' and rules' alerts meet.  It reads only the severity and the labels
    its matchers name, and caches the answer per combination of those: at 16K alerts/s
    the cost is one small tuple and one dict lookup per alert."""

    def __init__(
        self,
        by_severity: Mapping[str, int],
        default: int,
        adjustments: Iterable[Adjustment] = (),
        label: str = "priority",
    ) -> None:
        self.by_severity = dict(by_severity)
        self.default = default
        self.adjustments = tuple(adjustments)
        self.label = label
        names = {m.name for a in self.adjustments for m in a.matchers}
        self.reads = ("severity", *sorted(names - {"severity"}))
        self._cache: dict[tuple[str | None, ...], str] = {}

    def priority(self, labels: Mapping[str, str]) -> str:
        """``P1`` .. ``P5`` for an alert with these labels."""
        level = self.by_severity.get(labels.get("severity", ""), self.default)
        for adj in self.adjustments:
            if matches_all(adj.matchers, labels):
                level += adj.by
        return f"P{min(max(level, 1), 5)}"

    def apply(self, alerts: Iterable[Alert]) -> None:
        """Label each alert that has no priority yet (its fingerprint follows)."""
        label, reads, cache = self.label, self.reads, self._cache
        for alert in alerts:
            labels = alert.labels
            if label in labels:
                continue
            key = tuple(map(labels.get, reads))
            value = cache.get(key)
            if value is None:
                if len(cache) >= _CACHE_MAX:  # matchers over a high-cardinality label
                    cache.clear()
                value = cache[key] = self.priority(labels)
            labels[label] = value
            alert.fingerprint = fingerprint(labels)
