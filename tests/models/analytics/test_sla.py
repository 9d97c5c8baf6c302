"""The SLA report against numbers computed by hand, and its CSV and HTML forms."""

from __future__ import annotations

import csv
import io
import re

import pytest

from models.analytics import report, sla
from models.analytics.spec import AnalyticsSpec, SlaTarget
from models.analytics.tracker import episodes
from tests.models.analytics.synthetic import DictStore

START, END = sla.period_range("2026-11")
PREV, _ = sla.period_range("2026-10")
M = 60
TARGETS = (
    SlaTarget("critical", severity="critical", acknowledge_within=10 * M, resolve_within=60 * M),
    SlaTarget("db", team="db", resolve_within=30 * M),
    SlaTarget("other-tenant", tenant="globex", acknowledge_within=M),
)


def life(fp: str, sev: str, team: str, fired: float, ack: float | None, res: float | None):
    labels = {"alertname": f"A-{fp}", "severity": sev, "team": team}
    out = [
        {"kind": "alert", "fingerprint": fp, "status": "firing", "at": fired, "labels": labels},
        {"kind": "notification", "receiver": "r", "group_key": f"{{}}:{{g=\"{fp}\"}}",
         "new_firing": [fp], "at": fired},
    ]  # fmt: skip
    if ack is not None:
        out.append({"kind": "action", "op": "ack", "fingerprints": [fp], "at": fired + ack})
    if res is not None:
        out.append({"kind": "alert", "fingerprint": fp, "status": "resolved", "at": fired + res})
    return out


NOW = START + 10 * 86400
HISTORY = [
    *life("e0", "critical", "db", PREV + 10, 60, 600),  # the previous month: all met
    *life("e1", "critical", "db", START + 100, 5 * M, 20 * M),  # every target met
    *life("e2", "critical", "db", START + 1000, 15 * M, 90 * M),  # every target breached
    *life("e3", "critical", "web", START + 2000, None, 4 * M),  # resolved before an ack was due
    *life("e4", "warning", "db", START + 3000, None, 40 * M),  # db: resolved too late
    *life("e5", "critical", "db", START + 4000, None, None),  # open for days: breached
    *life("e6", "critical", "web", NOW - 120, None, None),  # open 2 min: pending
]


@pytest.fixture(scope="module")
def answer() -> dict:
    store = DictStore()
    store.feed("acme", sorted(HISTORY, key=lambda e: e["at"]), AnalyticsSpec())
    now_eps = episodes(store.scan, "acme", START, END)
    prev_eps = episodes(store.scan, "acme", PREV, START)
    return sla.report("acme", "2026-11", TARGETS, now_eps, prev_eps, NOW)


def test_compliance_per_target_as_computed_by_hand(answer):
    assert answer["alerts"] == 6 and answer["previous_period"] == "2026-10"
    by = {t["target"]: t for t in answer["targets"]}
    assert set(by) == {"critical", "db"}  # another tenant's target is not ours
    ack, res, db = by["critical"]["acknowledge"], by["critical"]["resolve"], by["db"]["resolve"]
    # critical ack: e1 met, e2 late, e3 resolved in time, e5 open too long, e6 pending
    assert (ack["total"], ack["met"], ack["breached"], ack["pending"]) == (4, 2, 2, 1)
    assert ack["compliance"] == 0.5 and ack["previous_compliance"] == 1.0
    assert ack["trend"] == -0.5
    # critical resolve within 1 h: e1, e3 met; e2 (90 min), e5 (open) breached; e6 pending
    assert (res["total"], res["met"], res["breached"], res["pending"]) == (4, 2, 2, 1)
    # db resolve within 30 min: e1 met; e2, e4 (40 min), e5 breached
    assert (db["total"], db["met"], db["breached"]) == (4, 1, 3)
    assert db["compliance"] == 0.25 and db["previous_compliance"] == 1.0
    breached = {b["group_key"]: b for b in ack["breaches"]}
    assert set(breached) == {'{}:{g="e2"}', '{}:{g="e5"}'}
    assert breached['{}:{g="e2"}']["worst"] == 15 * M
    assert breached['{}:{g="e2"}']["rules"] == ["A-e2"]
    assert [b["group_key"] for b in ack["breaches"]] == ['{}:{g="e5"}', '{}:{g="e2"}']


def test_csv_has_one_line_per_target_and_measure(answer):
    rows = list(csv.DictReader(io.StringIO(report.to_csv(answer))))
    assert [(r["target"], r["measure"], r["compliance"]) for r in rows] == [
        ("critical", "acknowledge", "0.5"),
        ("critical", "resolve", "0.5"),
        ("db", "resolve", "0.25"),
    ]


def test_html_is_self_contained_with_a_chart(answer):
    page = report.to_html(answer)
    assert page.count("<svg") == 1 and page.count("<rect") == 6  # 3 rows x (now, before)
    assert "50.0%" in page and "25.0%" in page and "-75.0 pt" in page
    # nothing fetched: no scripts, no src, no link other than the SVG namespace
    assert "<script" not in page and "src=" not in page and "<link" not in page
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"]


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "nov", ""])
def test_a_period_is_a_month(bad):
    with pytest.raises(ValueError, match="period"):
        sla.period_range(bad)
