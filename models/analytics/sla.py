"""SLA compliance of a tenant's alerts in a period, against the configured targets.

An alert counts for a target when its tenant, team and severity match and it fired in
the period. Acknowledge target: met when acknowledged within the time, or resolved
within it without needing one; breached when acknowledged later, resolved later
without an acknowledgement, or still open past it at the report time; otherwise (open,
time not up yet) pending and not counted. Resolve target likewise with the resolve
time. The previous period (the month before) is computed the same way, for the trend.

    >>> t = SlaTarget("p1", acknowledge_within=600)
    >>> e = [{"fp": "a", "fired": 0, "acknowledged": 300}, {"fp": "b", "fired": 0}]
    >>> measure(t, e, now=10_000)["acknowledge"]["compliance"]
    0.5
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from models.analytics.spec import SlaTarget

MAX_BREACH_GROUPS = 50  # per target and measure, worst first
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


def period_range(period: str) -> tuple[float, float]:
    """``YYYY-MM`` -> [first instant, first instant of the next month) in UTC."""
    m = _PERIOD.match(period)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"period: {period!r} is not a month such as 2026-11")
    y, mo = int(m.group(1)), int(m.group(2))
    start = datetime(y, mo, 1, tzinfo=UTC)
    days = calendar.monthrange(y, mo)[1]
    return start.timestamp(), start.timestamp() + days * 86400.0


def previous_period(period: str) -> str:
    y, mo = (int(x) for x in period.split("-"))
    return f"{y - 1}-12" if mo == 1 else f"{y}-{mo - 1:02d}"


def _verdict(e: dict[str, Any], within: float, done_key: str, now: float) -> tuple[str, float]:
    """(met | breached | pending, seconds it took or has taken so far)."""
    fired = e["fired"]
    done = e.get(done_key)
    resolved = e.get("resolved")
    if done is not None:
        took = done - fired
    elif done_key == "acknowledged" and resolved is not None and resolved - fired <= within:
        return "met", resolved - fired
    elif resolved is not None:
        took = resolved - fired  # resolved without an acknowledgement, too late
    else:
        took = now - fired
        if took <= within:
            return "pending", took
    return ("met" if took <= within else "breached"), took


def _measure_one(
    episodes: list[dict[str, Any]], within: float, done_key: str, now: float
) -> dict[str, Any]:
    met = breached = pending = 0
    groups: dict[str, dict[str, Any]] = {}
    for e in episodes:
        verdict, took = _verdict(e, within, done_key, now)
        if verdict == "met":
            met += 1
        elif verdict == "pending":
            pending += 1
        else:
            breached += 1
            gk = e.get("group_key") or f"(not notified) {e['fp']}"
            g = groups.setdefault(
                gk, {"group_key": gk, "alerts": 0, "rules": set(), "first_fired": e["fired"]}
            )
            g["alerts"] += 1
            g["rules"].add(e.get("rule", ""))
            g["first_fired"] = min(g["first_fired"], e["fired"])
            g["worst"] = max(g.get("worst", 0.0), took)
    total = met + breached
    worst = sorted(groups.values(), key=lambda g: -g["worst"])[:MAX_BREACH_GROUPS]
    return {
        "within": within,
        "total": total,
        "met": met,
        "breached": breached,
        "pending": pending,
        "compliance": met / total if total else None,
        "breaches": [{**g, "rules": sorted(g["rules"])} for g in worst],
        "breach_groups": len(groups),
    }


def measure(target: SlaTarget, episodes: Iterable[dict[str, Any]], now: float) -> dict[str, Any]:
    """The target's acknowledge and resolve compliance over episodes already chosen
    (the tenant's, fired in the period)."""
    mine = [e for e in episodes if target.matches(e.get("team", ""), e.get("severity", ""))]
    out: dict[str, Any] = {}
    if target.acknowledge_within is not None:
        out["acknowledge"] = _measure_one(mine, target.acknowledge_within, "acknowledged", now)
    if target.resolve_within is not None:
        out["resolve"] = _measure_one(mine, target.resolve_within, "resolved", now)
    return out


def report(
    tenant: str,
    period: str,
    targets: Iterable[SlaTarget],
    episodes: list[dict[str, Any]],
    previous: list[dict[str, Any]],
    now: float,
) -> dict[str, Any]:
    """The SLA report: per target, compliance now and in the previous period."""
    rows = []
    for t in targets:
        if t.tenant not in (None, tenant):
            continue
        cur = measure(t, episodes, now)
        prev = measure(t, previous, now)
        for name, m in cur.items():
            p = prev[name]["compliance"]
            m["previous_compliance"] = p
            c = m["compliance"]
            m["trend"] = c - p if c is not None and p is not None else None
        rows.append(
            {
                "target": t.name,
                "team": t.team,
                "severity": t.severity,
                **cur,
            }
        )
    return {
        "tenant": tenant,
        "period": period,
        "previous_period": previous_period(period),
        "generated_at": now,
        "alerts": len(episodes),
        "targets": rows,
    }
