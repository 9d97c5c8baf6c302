"""A smoke run of every benchmark scenario with tiny numbers: everything sent arrives,
and each result JSON carries the fields the README table is built from. Timings are
measured, never asserted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.harness import main
from benchmarks.peers import ALERTMANAGER_BIN


def run(tmp_path: Path, *argv: str) -> dict[str, dict[str, Any]]:
    """Run the harness; the result document of each scenario, by name."""
    code = main([*argv, "--partitions", "2", "--sample-every", "0.5", "--out", str(tmp_path)])
    docs = {}
    for path in tmp_path.glob("*.json"):
        doc = json.loads(path.read_text())
        assert path.with_suffix(".png").exists(), path
        assert {"nproc", "cpu", "memory_gib"} <= set(doc["machine"])
        docs[doc["scenario"]] = doc
    assert code == 0, {k: d["runs"] for k, d in docs.items()}
    return docs


@pytest.mark.skipif(ALERTMANAGER_BIN is None, reason="apt-get install prometheus-alertmanager")
def test_alerts_one_and_many_tenants_beside_alertmanager(tmp_path: Path) -> None:
    docs = run(
        tmp_path,
        "alerts",
        "--alerts", "2000",
        "--tenants", "1,4",
        "--silences", "10",
        "--batch", "200",
    )  # fmt: skip
    runs = docs["alerts"]["runs"]
    ours = [r for r in runs if "system" not in r]
    theirs = [r for r in runs if r.get("system") == "alertmanager"]
    assert [r["tenants"] for r in ours] == [1, 4]
    assert [r["tenants"] for r in theirs] == [1, 4]
    for r in ours:
        assert r["groups"] == 100, r["groups"]  # one tenant too: all 100 groups on one
        assert r["sent"] == 2000 + r["tenants"] * 10  # the stream and the inhibition sources
        assert r["missing"] == 0 and r["unexpected"] == 0
        assert r["arrived"] == r["expected_notified"]
        assert r["active_from_worker"] and r["active_alerts"] == r["sent"]
        assert r["ceiling"]["items"] == r["sent"]
        for key in ("alerts_per_s", "ratio_to_alertmanager", "rss_bytes_per_active_alert"):
            assert r[key] > 0, key
        assert r["ingest_rate"] > 0  # measured once the whole stream was in the topic
    for ours_run, am in zip(ours, theirs, strict=True):
        assert am["missing"] == 0 and am["expected_notified"] == ours_run["expected_notified"]


def test_latency_steps_then_soak_at_80_percent_of_what_it_found(tmp_path: Path) -> None:
    docs = run(
        tmp_path,
        "latency", "soak",
        "--rate-start", "100",
        "--rate-factor", "2",
        "--rate", "200",
        "--step-duration", "2",
        "--latency-batch", "100",
        "--latency-tenants", "2",
        "--duration", "6",
        "--warmup", "2",
    )  # fmt: skip
    [lat] = docs["latency"]["runs"]
    assert [s["rate"] for s in lat["steps"]][:1] == [100]
    for step in lat["steps"]:
        assert step["sent"] == step["rate"] * 2
        assert step["arrived"] == step["sent"] or not step["sustained"]
    sustained = [s["rate"] for s in lat["steps"] if s["sustained"]]
    assert lat["sustained_rate"] == max(sustained, default=0)
    assert lat["sustained_rate"] > 0, lat["steps"]
    assert lat["latency"]["count"] == sum(
        s["latency"]["count"] for s in lat["steps"] if s["rate"] == lat["sustained_rate"]
    )
    [soak] = docs["soak"]["runs"]
    assert soak["sustained_rate"] == lat["sustained_rate"]
    assert soak["rate"] == int(0.8 * lat["sustained_rate"])
    assert soak["sent"] == soak["arrived"] == soak["rate"] * 6
    assert soak["lost"] == 0
    assert soak["rss_mib_after_warmup"] > 0 and soak["rss_growth_pct"] is not None


def test_metrics_and_recovery(tmp_path: Path) -> None:
    docs = run(
        tmp_path,
        "metrics", "recovery",
        "--samples", "20000",
        "--series", "200",
        "--metric-tenants", "10",
        "--batch", "500",
        "--recovery-alerts", "2000",
    )  # fmt: skip
    [m] = docs["metrics"]["runs"]
    assert m["sent"] == 20000 and m["ceiling"]["items"] == 20000
    assert m["arrived"] == m["expected_alerts"] > 0
    assert m["samples_per_s"] > 0 and m["ratio_to_ceiling"] > 0
    [r] = docs["recovery"]["runs"]
    assert r["active_after_restart"] == r["expected_active"] == 2010
    assert r["lost"] == 0 and r["renotified"] == 0
    assert r["seconds_to_resume"] is not None and r["seconds_to_healthy"] is not None
