"""A smoke run of the benchmark harness with tiny numbers: every alert sent arrives at
the webhook, and the result JSON carries the fields the README table is built from."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.harness import main


def test_alerts_scenario_tiny(tmp_path: Path) -> None:
    code = main(
        [
            "alerts",
            "--alerts", "2000",
            "--workers", "1",
            "--partitions", "2",
            "--silences", "10",
            "--batch", "200",
            "--no-alertmanager",
            "--out", str(tmp_path),
        ]
    )  # fmt: skip
    [result] = list(tmp_path.glob("alerts-*.json"))
    doc = json.loads(result.read_text())
    assert code == 0, doc["runs"]
    assert (tmp_path / result.name.replace(".json", ".png")).exists()
    assert {"nproc", "cpu", "memory_gib"} <= set(doc["machine"])
    [run] = doc["runs"]
    for key in (
        "alerts_per_s",
        "ingest_rate",
        "notifications_per_s",
        "rss_bytes_per_active_alert",
        "ceiling",
        "ratio_to_ceiling",
        "timeline",
    ):
        assert key in run, key
    assert run["sent"] == 2000 + run["tenants"] * 10  # the stream and the inhibition sources
    assert run["missing"] == 0 and run["unexpected"] == 0
    assert run["arrived"] == run["expected_notified"]
    assert run["ceiling"]["items"] == run["sent"]
