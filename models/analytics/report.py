"""The SLA report (``models/analytics/sla.py``) as CSV and as one self-contained HTML
page: inline SVG charts and CSS, no scripts, fonts or images fetched from anywhere, so
it can be mailed or archived as it is."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from html import escape
from typing import Any

from models.durations import format_duration

MEASURES = ("acknowledge", "resolve")
CSV_FIELDS = (
    "target",
    "team",
    "severity",
    "measure",
    "within",
    "total",
    "met",
    "breached",
    "pending",
    "compliance",
    "previous_compliance",
    "trend",
)


def _rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for t in report["targets"]:
        for m in MEASURES:
            if m in t:
                head = {k: t[k] for k in ("target", "team", "severity")}
                out.append({**head, "measure": m, **t[m]})
    return out


def to_csv(report: dict[str, Any]) -> str:
    """One line per target and measure."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in _rows(report):
        w.writerow({k: "" if r.get(k) is None else r.get(k) for k in CSV_FIELDS})
    return buf.getvalue()


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _points(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.1f} pt"


def _bars(rows: list[dict[str, Any]]) -> str:
    """Compliance per target and measure, this period against the previous one."""
    bar_h, gap, left, width = 16, 14, 230, 420
    height = len(rows) * (2 * bar_h + gap) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 70}" height="{height}"'
        ' role="img" aria-label="compliance per target">'
    ]
    for x in (0, 0.25, 0.5, 0.75, 1.0):
        px = left + x * width
        parts.append(f'<line x1="{px}" y1="10" x2="{px}" y2="{height - 25}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{px}" y="{height - 10}" font-size="11" text-anchor="middle">{x:.0%}</text>'
        )
    y = 14
    for r in rows:
        label = escape(f"{r['target']} · {r['measure']} ≤ {format_duration(r['within'])}")
        parts.append(
            f'<text x="{left - 8}" y="{y + bar_h}" font-size="12" text-anchor="end">{label}</text>'
        )
        for value, colour, dy in (
            (r["compliance"], "#2f7ed8", 0),
            (r["previous_compliance"], "#b0b7c3", bar_h),
        ):
            w = (value or 0) * width
            top, right = y + dy, left + w + 4
            parts.append(
                f'<rect x="{left}" y="{top}" width="{w:.1f}" height="{bar_h - 2}" fill="{colour}"/>'
            )
            parts.append(
                f'<text x="{right:.1f}" y="{top + bar_h - 4}" font-size="11">{_pct(value)}</text>'
            )
        y += 2 * bar_h + gap
    parts.append("</svg>")
    return "".join(parts)


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def to_html(report: dict[str, Any]) -> str:
    rows = _rows(report)
    table = "".join(
        f"<tr><td>{escape(r['target'])}</td><td>{r['measure']}</td>"
        f"<td>{format_duration(r['within'])}</td><td>{r['total']}</td><td>{r['met']}</td>"
        f"<td>{r['breached']}</td><td>{r['pending']}</td><td><b>{_pct(r['compliance'])}</b></td>"
        f"<td>{_pct(r['previous_compliance'])}</td>"
        f"<td>{_points(r['trend'])}</td></tr>"
        for r in rows
    )
    breaches = "".join(
        f"<tr><td>{escape(r['target'])}</td><td>{r['measure']}</td>"
        f"<td><code>{escape(b['group_key'])}</code></td><td>{escape(', '.join(b['rules']))}</td>"
        f"<td>{b['alerts']}</td><td>{_when(b['first_fired'])}</td>"
        f"<td>{format_duration(round(b['worst']))}</td></tr>"
        for r in rows
        for b in r["breaches"]
    )
    title = escape(f"SLA report · {report['tenant']} · {report['period']}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;
font-size:13px;text-align:left}}th{{background:#f3f4f6}}code{{font-size:12px}}
.legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}}
</style></head><body>
<h1>{title}</h1>
<p>{report["alerts"]} alerts fired in {escape(report["period"])}; compared with
{escape(report["previous_period"])}. Generated {_when(report["generated_at"])}.</p>
<h2>Compliance per target</h2>
<p class="legend"><span style="background:#2f7ed8"></span>{escape(report["period"])}
<span style="background:#b0b7c3"></span>{escape(report["previous_period"])}</p>
{_bars(rows)}
<table><tr><th>target</th><th>measure</th><th>within</th><th>alerts</th><th>met</th>
<th>breached</th><th>pending</th><th>compliance</th><th>previous</th><th>trend</th></tr>
{table}</table>
<h2>Breaches by group (worst first)</h2>
<table><tr><th>target</th><th>measure</th><th>group</th><th>rules</th><th>alerts</th>
<th>first fired</th><th>worst</th></tr>
{breaches or '<tr><td colspan="7">none</td></tr>'}</table>
</body></html>
"""
