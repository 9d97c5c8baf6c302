"""Recommendations from a tenant's finished alert episodes (the last 30 days).

* ``noisy_rule``: a rule that fired at least ``min_fired`` times and nobody ever
  acknowledged or acted on: delete it, or demote it (lower severity, a ticket queue).
* ``flapping_rule``: a rule whose alerts fire again soon after resolving. Two remedies,
  each with the value that would have removed ``target`` of the flaps, replayed over the
  episodes: ``keep_firing_for`` (hysteresis: hold an alert firing that long after it
  clears, so a refire within it is no new alert) and a longer ``for:`` (an alert must
  hold that long before it fires, so the short firings between flaps never fire).
* ``arrive_together``: two groups whose alerts arrive within ``together_within`` of each
  other nearly every time: one notification would do (a shared ``group_by``), or the
  one that comes second is a symptom of the first (an inhibit rule).
* ``learned_band``: a static threshold rule whose alerts are mostly not acted on, on a
  metric whose series have a learned band (an auto-threshold or anomaly rule's model)
  that holds the threshold: the values between the threshold and the band's edge are
  normal for those series, so a band rule (``condition: auto``) would have kept the
  alerts of those series quiet.

Each comes with its evidence and the expected reduction in alerts or notifications.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from models.durations import format_duration

# round suggested durations up to one of these (seconds)
NICE = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_fired: int = 10  # a rule fired this often with no ack is noise
    min_flaps: int = 3
    flap_window: float = 3600.0  # a refire within this of a resolve is a flap
    target: float = 0.9  # suggest the value removing this share of the flaps
    together_within: float = 60.0
    min_together: int = 5
    together_share: float = 0.9  # of the rarer group's arrivals
    band_actionability: float = 0.2  # a threshold rule acted on at most this often ...
    # ... whose metric has learned bands holding its threshold: suggest a band


def _nice(seconds: float) -> float:
    return next((n for n in NICE if n >= seconds), math.ceil(seconds / 86400) * 86400)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def noisy(episodes: list[dict[str, Any]], th: Thresholds) -> list[dict[str, Any]]:
    by_rule: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in episodes:
        by_rule[e.get("rule", "")].append(e)
    total = len(episodes)
    out = []
    for rule, es in sorted(by_rule.items()):
        acted = sum(1 for e in es if e.get("acknowledged") is not None or e.get("acted"))
        if len(es) < th.min_fired or acted:
            continue
        durations = [e["resolved"] - e["fired"] for e in es if e.get("resolved") is not None]
        out.append(
            {
                "kind": "noisy_rule",
                "rule": rule,
                "suggestion": f"delete {rule} or demote it (lower severity, a ticket queue):"
                f" it fired {len(es)} times and nobody acknowledged or acted on it",
                "evidence": {
                    "fired": len(es),
                    "acknowledged": 0,
                    "acted_on": 0,
                    "median_duration": _quantile(durations, 0.5) if durations else None,
                },
                "expected_reduction": {"alerts": len(es), "share": len(es) / total},
            }
        )
    return out


def flapping(episodes: list[dict[str, Any]], th: Thresholds) -> list[dict[str, Any]]:
    """Per rule: the gaps between a resolve and the refire of the same alert, and the
    durations of the firings that followed a flap."""
    series: defaultdict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in episodes:
        if e.get("resolved") is not None:
            series[(e.get("rule", ""), e["fp"])].append(e)
    gaps: defaultdict[str, list[float]] = defaultdict(list)
    lasted: defaultdict[str, list[float]] = defaultdict(list)  # firings that refired
    fired: defaultdict[str, int] = defaultdict(int)
    for (rule, _), es in series.items():
        es.sort(key=lambda e: e["fired"])
        fired[rule] += len(es)
        for prev, nxt in pairwise(es):
            gap = nxt["fired"] - prev["resolved"]
            if 0 <= gap <= th.flap_window:
                gaps[rule].append(gap)
                lasted[rule].append(prev["resolved"] - prev["fired"])
    out = []
    for rule in sorted(gaps):
        g, d = gaps[rule], lasted[rule]
        if len(g) < th.min_flaps:
            continue
        hold = _nice(_quantile(g, th.target))
        hold_removed = sum(1 for x in g if x <= hold) / len(g)
        wait = _nice(_quantile(d, th.target))
        wait_removed = sum(1 for x in d if x < wait) / len(d)
        out.append(
            {
                "kind": "flapping_rule",
                "rule": rule,
                "suggestion": f"keep_firing_for: {format_duration(hold)} on {rule}"
                f" (removes {hold_removed:.0%} of its flaps), or for: {format_duration(wait)}"
                f" (removes {wait_removed:.0%})",
                "keep_firing_for": hold,
                "for": wait,
                "evidence": {
                    "fired": fired[rule],
                    "flaps": len(g),
                    "median_gap": _quantile(g, 0.5),
                    "median_firing": _quantile(d, 0.5),
                },
                "expected_reduction": {
                    "keep_firing_for": {
                        "flaps": sum(1 for x in g if x <= hold),
                        "share": hold_removed,
                    },
                    "for": {"flaps": sum(1 for x in d if x < wait), "share": wait_removed},
                },
            }
        )
    return out


def _arrivals(episodes: Iterable[dict[str, Any]], within: float) -> list[tuple[float, str]]:
    """(time, group key) each time a group starts firing: alerts of a group that fire
    within ``within`` of its previous arrival are the same arrival."""
    out: list[tuple[float, str]] = []
    last: dict[str, float] = {}
    for e in sorted((e for e in episodes if e.get("group_key")), key=lambda e: e["fired"]):
        gk, t = e["group_key"], e["fired"]
        if gk not in last or t - last[gk] > within:
            out.append((t, gk))
        last[gk] = t
    return out


def together(episodes: list[dict[str, Any]], th: Thresholds) -> list[dict[str, Any]]:
    arrivals = _arrivals(episodes, th.together_within)
    count: defaultdict[str, int] = defaultdict(int)
    pair: defaultdict[tuple[str, str], int] = defaultdict(int)  # (first, second) -> times
    rules: defaultdict[str, set[str]] = defaultdict(set)
    for e in episodes:
        if e.get("group_key"):
            rules[e["group_key"]].add(e.get("rule", ""))
    for i, (t, gk) in enumerate(arrivals):
        count[gk] += 1
        seen = {gk}
        for t2, gk2 in arrivals[i + 1 :]:
            if t2 - t > th.together_within:
                break
            if gk2 not in seen:
                seen.add(gk2)
                pair[(gk, gk2)] += 1
    both: defaultdict[frozenset[str], int] = defaultdict(int)
    for (a, b), n in pair.items():
        both[frozenset((a, b))] += n
    out = []
    for key, n in sorted(both.items(), key=lambda kv: -kv[1]):
        a, b = sorted(key)
        rarer = min(count[a], count[b])
        if n < th.min_together or n / rarer < th.together_share:
            continue
        first, second = (a, b) if pair[(a, b)] >= pair[(b, a)] else (b, a)
        src, dst = sorted(rules[first]), sorted(rules[second])
        out.append(
            {
                "kind": "arrive_together",
                "groups": [first, second],
                "suggestion": f"one group_by for both, or inhibit {', '.join(dst)} while"
                f" {', '.join(src)} fires: they arrived together {n} of {rarer} times,"
                f" {first} first {pair[(first, second)]} times",
                "evidence": {
                    "together": n,
                    "arrivals": {first: count[first], second: count[second]},
                    "first_rules": src,
                    "second_rules": dst,
                },
                "expected_reduction": {"notifications": n, "share": n / count[second]},
            }
        )
    return out


def _holds(op: str, threshold: float, band: tuple[float, float]) -> bool:
    """Whether the band deems values past the threshold normal: it would not fire
    between the threshold and its own edge."""
    lo, hi = band
    return hi > threshold if op in (">", ">=") else lo < threshold


def learned_band(
    episodes: list[dict[str, Any]],
    rules: list[dict[str, Any]],
    bands: list[dict[str, Any]],
    th: Thresholds,
) -> list[dict[str, Any]]:
    """``rules``: the tenant's static threshold rules (``rule``, ``metric``, ``op``,
    ``threshold``); ``bands``: the bands learned for its series (``metric``, ``labels``,
    ``band`` as [low, high]). The expected reduction is the rule's alerts nobody acted
    on times the share of the metric's series whose band holds the threshold (the
    alerts' values are not recorded, so per alert it is an estimate)."""
    by_rule: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in episodes:
        by_rule[e.get("rule", "")].append(e)
    out = []
    for r in sorted(rules, key=lambda r: r["rule"]):
        es = by_rule.get(r["rule"], [])
        acted = sum(1 for e in es if e.get("acknowledged") is not None or e.get("acted"))
        if len(es) < th.min_fired or acted > th.band_actionability * len(es):
            continue
        series = [b for b in bands if b["metric"] == r["metric"] and b.get("band")]
        holding = [b for b in series if _holds(r["op"], r["threshold"], tuple(b["band"]))]
        if not holding:
            continue
        share = len(holding) / len(series)
        quiet = round((len(es) - acted) * share)
        edge = max if r["op"] in (">", ">=") else min
        out.append(
            {
                "kind": "learned_band",
                "rule": r["rule"],
                "suggestion": f"replace the static threshold of {r['rule']}"
                f" ({r['metric']} {r['op']} {r['threshold']:g}) by a learned band"
                f" (condition: auto): {len(holding)} of {len(series)} of its series learned"
                f" a normal range past the threshold, and {acted} of its {len(es)} alerts"
                " were acted on",
                "evidence": {
                    "fired": len(es),
                    "acted_on": acted,
                    "metric": r["metric"],
                    "threshold": r["threshold"],
                    "series": len(series),
                    "series_band_holds_threshold": len(holding),
                    "band_edge": edge(b["band"][1 if edge is max else 0] for b in holding),
                    "examples": [
                        {"labels": b["labels"], "band": list(b["band"])} for b in holding[:5]
                    ],
                },
                "expected_reduction": {"alerts": quiet, "share": quiet / len(es)},
            }
        )
    return out


def recommend(
    episodes: list[dict[str, Any]],
    th: Thresholds,
    rules: Sequence[dict[str, Any]] = (),
    bands: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    return (
        noisy(episodes, th)
        + flapping(episodes, th)
        + together(episodes, th)
        + learned_band(episodes, list(rules), list(bands), th)
    )
