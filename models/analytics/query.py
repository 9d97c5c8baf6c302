"""Answering ``GET /api/v1/analytics`` from the window tables.

Two halves, so the answer can be gathered across workers: ``local_rows`` reads this
worker's windows into mergeable rows (the Stats wire form), ``combine`` merges rows
from every worker by dimension value and reports them. A range is covered by day
windows where it spans whole days and hour windows at its edges (``cover``), and the
same range a week earlier gives the week-over-week volume trend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from models.analytics.windows import (
    DIMENSIONS,
    Stats,
    cover,
    parse_window_key,
    window_prefix,
)

WEEK = 7 * 86400
Scan = Callable[[str], Iterator[tuple[str, Any]]]


def _read(scan: Scan, tenant: str | None, dim: str, frm: float, to: float) -> dict[str, Stats]:
    out: dict[str, Stats] = {}
    for res, start in cover(frm, to):
        for key, wire in scan(window_prefix(res, start, tenant, dim)):
            _, _, _, d, value = parse_window_key(key)
            if d != dim:
                continue
            s = out.get(value)
            if s is None:
                out[value] = Stats.from_wire(wire)
            else:
                s.merge(Stats.from_wire(wire))
    return out


def local_rows(
    scan: Scan, tenant: str | None, dim: str, frm: float, to: float
) -> list[dict[str, Any]]:
    """This worker's windows of ``dim`` over [frm, to) (one tenant's, or all), with the
    volume fired over the same range a week earlier."""
    now = _read(scan, tenant, dim, frm, to)
    before = _read(scan, tenant, dim, frm - WEEK, to - WEEK)
    rows = [
        {"value": v, "stats": s.to_wire(), "previous_fired": _fired(before.get(v))}
        for v, s in now.items()
    ]
    rows += [
        {"value": v, "stats": {}, "previous_fired": _fired(s)}
        for v, s in before.items()
        if v not in now and _fired(s)
    ]
    return rows


def _fired(s: Stats | None) -> int:
    return s.counts.get("fired", 0) if s is not None else 0


def combine(dim: str, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows from every worker merged by value and reported, busiest first."""
    merged: dict[str, Stats] = {}
    previous: dict[str, int] = {}
    for row in rows:
        v = row["value"]
        s = Stats.from_wire(row["stats"])
        if v in merged:
            merged[v].merge(s)
        else:
            merged[v] = s
        previous[v] = previous.get(v, 0) + int(row.get("previous_fired") or 0)
    out = []
    for v, s in merged.items():
        report = s.report()
        prev = previous[v]
        out.append(
            {
                dim: v,
                **report,
                "fired_previous_week": prev,
                "trend_week_over_week": (report["fired"] - prev) / prev if prev else None,
            }
        )
    out.sort(key=lambda r: (-r["fired"], r[dim]))
    return out


def check_dimension(dim: str) -> str | None:
    """Why ``dim`` is not one to group by, or None."""
    if dim not in DIMENSIONS:
        return f"by: one of {', '.join(DIMENSIONS)}"
    return None
