"""Inhibition with Alertmanager's semantics (``inhibit/inhibit.go``), indexed.

A rule mutes a *target* alert while a firing *source* alert exists such that:
the source matches ``source_matchers``, the target matches ``target_matchers``, and
every label in ``equal`` has the same value on both (a missing label equals "").
When the target also matches the source side, source alerts that match the target
side too are disregarded: an alert never inhibits itself, nor does a peer of the
same two-sided class (as ``excludeTwoSidedMatch`` in Alertmanager).

Data layout, per rule: ``equal`` key (tuple of values) -> two buckets of source
fingerprints, those that do not and those that do match the target side.  So:

* ``add(alert)`` / ``remove(fp)``: O(candidate rules); rules are indexed by one of
  their equality matchers per side, so only rules whose literal matchers the
  alert's labels satisfy are checked (plus rules without equality matchers).
* ``mutes(labels)``: O(candidate rules) dict lookups; no scan of source alerts.

Tenancy: ``scope_labels`` (default ``("tenant",)``) are appended to every rule's
``equal`` list, so a source alert of one tenant never inhibits another tenant's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.suppression.matchers import Matcher, matches_all


@dataclass(frozen=True, slots=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, cfg: Any) -> InhibitRule:
        """From an ``InhibitRuleConfig`` (duck-typed: ``sources()``, ``targets()``, ``equal``)."""
        return cls(tuple(cfg.sources()), tuple(cfg.targets()), tuple(cfg.equal))


def _index_key(matchers: Sequence[Matcher]) -> list[tuple[str, str]] | None:
    """Literal (name, value) pairs one of which the labels must carry, or None."""
    best: list[tuple[str, str]] | None = None
    for m in matchers:
        vals = m.literal_values()
        if vals is None or "" in vals:
            continue
        keys = [(m.name, v) for v in vals]
        if best is None or len(keys) < len(best):
            best = keys
    return best


class MatcherIndex:
    """Rules indexed by one literal matcher each (inhibition and correlation rules);
    ``candidates(labels)`` yields the rules whose indexed matcher the labels satisfy
    plus the unindexed ones."""

    __slots__ = ("by_label", "rest")

    def __init__(self, items: Iterable[tuple[int, Sequence[Matcher]]]) -> None:
        self.by_label: dict[str, dict[str, list[int]]] = {}
        self.rest: list[int] = []
        for i, matchers in items:
            keys = _index_key(matchers)
            if keys is None:
                self.rest.append(i)
                continue
            for name, value in keys:
                self.by_label.setdefault(name, {}).setdefault(value, []).append(i)

    def candidates(self, labels: Mapping[str, str]) -> list[int]:
        out = list(self.rest)
        by_label = self.by_label
        for name, value in labels.items():
            d = by_label.get(name)
            if d is not None:
                ids = d.get(value)
                if ids:
                    out.extend(ids)
        return out


class Inhibitor:
    """The current firing source alerts of a set of rules; ``mutes(labels)``."""

    def __init__(self, rules: Sequence[InhibitRule], scope_labels: Sequence[str] = ("tenant",)):
        self.rules = list(rules)
        self.scope_labels = tuple(scope_labels)
        self._equal = [tuple(r.equal) + self.scope_labels for r in self.rules]
        self._src_index = MatcherIndex(enumerate(r.source for r in self.rules))
        self._tgt_index = MatcherIndex(enumerate(r.target for r in self.rules))
        # per rule: equal-key -> (plain {fp: ends_at}, two_sided {fp: ends_at})
        self._cache: list[dict[tuple[str, ...], tuple[dict[str, float], dict[str, float]]]] = [
            {} for _ in self.rules
        ]
        # fp -> [(rule index, equal key, two_sided)] for removal
        self._where: dict[str, list[tuple[int, tuple[str, ...], bool]]] = {}
        self.version = 0  # bumped when the set of sources changes: answers may differ

    @classmethod
    def from_config(cls, rules_cfg: Iterable[Any], **kw: Any) -> Inhibitor:
        return cls([InhibitRule.from_config(c) for c in rules_cfg], **kw)

    def __len__(self) -> int:
        return len(self._where)

    # --- feeding --------------------------------------------------------------------
    def add(
        self,
        fingerprint: str,
        labels: Mapping[str, str],
        ends_at: float = 0.0,
        resolved: bool = False,
    ) -> None:
        """Record a firing alert (or forget it if ``resolved``). ``ends_at`` > 0 makes
        it stop inhibiting after that instant, like Alertmanager's ``Resolved()``."""
        self.remove(fingerprint)
        if resolved:
            return
        where = []
        for i in self._src_index.candidates(labels):
            rule = self.rules[i]
            if not matches_all(rule.source, labels):
                continue
            key = tuple([labels.get(n, "") for n in self._equal[i]])
            two_sided = matches_all(rule.target, labels)
            buckets = self._cache[i].get(key)
            if buckets is None:
                buckets = self._cache[i][key] = ({}, {})
            buckets[1 if two_sided else 0][fingerprint] = ends_at
            where.append((i, key, two_sided))
        if where:
            self._where[fingerprint] = where
            self.version += 1

    def add_alert(self, alert: Any, now: float | None = None) -> None:
        """``add`` from an ``models.alerting.alert.Alert``."""
        now = time.time() if now is None else now
        self.add(alert.fingerprint, alert.labels, alert.ends_at, alert.resolved_at(now))

    def remove(self, fingerprint: str) -> None:
        where = self._where.pop(fingerprint, None)
        if not where:
            return
        self.version += 1
        for i, key, two_sided in where:
            buckets = self._cache[i].get(key)
            if buckets is None:
                continue
            buckets[1 if two_sided else 0].pop(fingerprint, None)
            if not buckets[0] and not buckets[1]:
                del self._cache[i][key]

    def rebuild(self, alerts: Iterable[Any], now: float | None = None) -> None:
        """Replace the state with these alerts (e.g. one tenant's firing alerts)."""
        self._cache = [{} for _ in self.rules]
        self._where = {}
        self.version += 1
        for a in alerts:
            self.add_alert(a, now)

    # --- querying -------------------------------------------------------------------
    @staticmethod
    def _live(bucket: dict[str, float], now: float, exclude: str) -> str | None:
        for fp, ends_at in bucket.items():
            if fp != exclude and (ends_at <= 0 or ends_at > now):
                return fp
        return None

    def inhibited_by(
        self, labels: Mapping[str, str], now: float | None = None, fingerprint: str = ""
    ) -> tuple[int, str] | None:
        """The first ``(rule index, source fingerprint)`` muting these labels, or None."""
        now = time.time() if now is None else now
        for i, buckets, two_sided in self._source_buckets(labels):
            fp = self._live(buckets[0], now, fingerprint)
            if fp is None and not two_sided:
                fp = self._live(buckets[1], now, fingerprint)
            if fp is not None:
                return i, fp
        return None

    def _source_buckets(
        self, labels: Mapping[str, str]
    ) -> Iterator[tuple[int, tuple[dict[str, float], dict[str, float]], bool]]:
        """For each rule whose target matches: (rule index, its source buckets for these
        labels' ``equal`` values, whether the labels match the rule's source too)."""
        for i in self._tgt_index.candidates(labels):
            rule = self.rules[i]
            if not matches_all(rule.target, labels):
                continue
            buckets = self._cache[i].get(tuple([labels.get(n, "") for n in self._equal[i]]))
            if buckets is not None:
                yield i, buckets, matches_all(rule.source, labels)

    def mutes(self, labels: Mapping[str, str], now: float | None = None) -> bool:
        return self.inhibited_by(labels, now) is not None

    def all_inhibitors(self, labels: Mapping[str, str], now: float | None = None) -> list[str]:
        """Every source fingerprint muting these labels (Alertmanager's marker list)."""
        now = time.time() if now is None else now
        out: list[str] = []
        for _, buckets, two_sided in self._source_buckets(labels):
            for b in (buckets[0],) if two_sided else buckets:
                out.extend(fp for fp, e in b.items() if e <= 0 or e > now)
        return out
