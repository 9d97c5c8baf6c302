"""Results: the JSON file, the Markdown table against the targets, the PNG plot, --compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGETS = {
    "alerts": "≥ 50,000 alerts/s and ≥ 2x Alertmanager",
    "metrics": "≥ 200,000 samples/s and ≥ 25% of the bare consumer",
    "latency": "p99 < 100 ms at 10,000 alerts/s",
    "soak": "flat RSS",
    "recovery": "< 30 s for 1,000,000 alerts; none lost or re-notified",
    "memory": "< 1 KB worker RSS per active alert",
}


def _am(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((r for r in runs if r.get("system") == "alertmanager"), None)


def rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    """[scenario, workers, size, measured, reference, target, met]"""
    out: list[list[str]] = []
    am = _am(runs)
    for r in runs:
        s = r["scenario"]
        err = f" **FAILED: {r['error']}**" if r.get("error") else ""
        if r.get("system") == "alertmanager":
            out.append(
                [
                    "alerts (Alertmanager)",
                    "-",
                    f"{r['alerts']:,} alerts",
                    f"{r['alerts_per_s']:,.0f} alerts/s to webhook (API ingest "
                    f"{r['post_rate']:,.0f}/s), {r['notifications_per_s']:.1f} notif/s, "
                    f"RSS {r['rss_mib']:,.0f} MiB{err}",
                    "-",
                    "reference",
                    "-",
                ]
            )
        elif s == "alerts":
            ratio = f", {r['alerts_per_s'] / am['alerts_per_s']:.2f}x AM" if am else ""
            met = (
                r["alerts_per_s"] >= 50_000
                and bool(am)
                and (r["alerts_per_s"] >= 2 * am["alerts_per_s"])
            )
            out.append(
                [
                    "alerts",
                    str(r["workers"]),
                    f"{r['alerts']:,} fps, {r['groups']} groups, {r['inhibition_rules']} inhibit "
                    f"rules, {r['silences']} silences",
                    f"{r['alerts_per_s']:,.0f} alerts/s to webhook "
                    f"(ingest {r['ingest_rate']:,.0f}/s)"
                    f", {r['notifications_per_s']:.1f} notif/s, "
                    f"{r['rss_bytes_per_active_alert']:,.0f} B RSS/alert{err}",
                    f"ceiling {r['ceiling']['rate']:,.0f}/s (ingest {r['ratio_to_ceiling']:.1%})"
                    f"{ratio}",
                    TARGETS["alerts"],
                    "yes" if met and not err else "no",
                ]
            )
        elif s == "metrics":
            met = r["samples_per_s"] >= 200_000 and r["ratio_to_ceiling"] >= 0.25
            out.append(
                [
                    "metrics",
                    str(r["workers"]),
                    f"{r['samples']:,} samples, {r['series']:,} series, {r['tenants']} tenants, "
                    f"{r['rules']} rules/{r['window']}",
                    f"{r['samples_per_s']:,.0f} samples/s, "
                    f"{r['cpu_us_per_sample']:.1f} µs CPU/sample"
                    f"{err}",
                    f"ceiling {r['ceiling']['rate']:,.0f}/s ({r['ratio_to_ceiling']:.1%})",
                    TARGETS["metrics"],
                    "yes" if met and not err else "no",
                ]
            )
        elif s in ("latency", "soak"):
            lat = r["latency"]
            met = lat.get("p99_ms", 1e9) < 100 and r["achieved_rate"] >= 0.97 * r["rate"]
            size = f"{r['rate']:,}/s for {r['duration_s']:.0f} s, tick {r['tick_s']} s"
            meas = (
                f"p50 {lat.get('p50_ms', 0):.0f} / p95 {lat.get('p95_ms', 0):.0f} / "
                f"p99 {lat.get('p99_ms', 0):.0f} / max {lat.get('max_ms', 0):.0f} ms"
            )
            if s == "soak":
                mm = r.get("rss_mib_second_half_min_max")
                meas += f"; RSS {r['rss_mib_start']:.0f}→{r['rss_mib_end']:.0f} MiB"
                if mm:
                    meas += f" (2nd half {mm[0]:.0f}-{mm[1]:.0f})"
            out.append(
                [
                    s,
                    str(r["workers"]),
                    size,
                    meas + err,
                    f"sent {r['achieved_rate']:,.0f}/s",
                    TARGETS["latency"] if s == "latency" else TARGETS["soak"],
                    ("yes" if met else "no")
                    if s == "latency" and not err
                    else ("see RSS" if not err else "no"),
                ]
            )
        elif s == "recovery":
            met = (r["seconds_to_resume"] or 1e9) < 30 and not err
            out.append(
                [
                    "recovery",
                    "1",
                    f"{r['active_alerts']:,} active alerts",
                    f"healthy {r['seconds_to_healthy'] or float('nan'):.1f} s, resumed "
                    f"{r['seconds_to_resume']:.1f} s, lost {r['lost']}, re-notified "
                    f"{r['renotified']}; {r['rss_bytes_per_active_alert']:,.0f} B RSS/alert{err}",
                    "-",
                    TARGETS["recovery"],
                    ("yes" if met else "no")
                    + (" (smaller size)" if r["active_alerts"] < 1e6 else ""),
                ]
            )
    return out


def markdown(runs: list[dict[str, Any]]) -> str:
    head = ["scenario", "workers", "size", "measured", "reference", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(runs)]
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 8))
    for r in runs:
        who = "AM" if r.get("system") == "alertmanager" else f"{r['scenario']} x{r.get('workers')}"
        tl = r.get("timeline", {})
        if tl.get("notified"):
            xs, ys = zip(*tl["notified"], strict=True)
            ax1.plot(xs, ys, label=f"{who} notified/s (first arrivals)")
        if tl.get("sent"):
            xs, ys = zip(*tl["sent"], strict=True)
            ax1.plot(xs, ys, "--", alpha=0.6, label=f"{who} sent/s")
        if tl.get("latency"):
            xs, p50, p99 = zip(*tl["latency"], strict=True)
            ax2.plot(xs, p50, label=f"{who} p50 ms")
            ax2.plot(xs, p99, label=f"{who} p99 ms")
    ax1.set_xlabel("seconds since first send")
    ax1.set_ylabel("items per second")
    ax1.set_title("throughput over time")
    ax1.legend(fontsize=7)
    if ax2.lines:
        ax2.set_xlabel("seconds since first send")
        ax2.set_ylabel("ms from creation to webhook")
        ax2.set_title("latency per second of arrival")
        ax2.legend(fontsize=7)
    else:
        for r in runs:
            if r.get("rss"):
                xs = [row[0] for row in r["rss"]]
                ys = [sum(row[1:]) for row in r["rss"]]
                ax2.plot(xs, ys, label=f"{r['scenario']} x{r.get('workers')} worker RSS MiB")
        ax2.set_xlabel("seconds since first send")
        ax2.set_ylabel("RSS MiB (all workers)")
        ax2.set_title("worker memory")
        if ax2.lines:
            ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


KEYS = [
    "alerts_per_s",
    "ingest_rate",
    "notifications_per_s",
    "samples_per_s",
    "cpu_us_per_sample",
    "cpu_us_per_alert",
    "rss_bytes_per_active_alert",
    "seconds_to_resume",
    "ratio_to_ceiling",
]


def compare(old_path: Path, runs: list[dict[str, Any]]) -> str:
    old = json.loads(old_path.read_text())["runs"]

    def key(r: dict[str, Any]) -> tuple:
        return (r["scenario"], r.get("workers"), r.get("system", "alertstream"))

    before = {key(r): r for r in old}
    lines = [
        f"compared with {old_path.name}:",
        "| run | metric | old | new | change |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        o = before.get(key(r))
        if not o:
            continue
        metrics = [(k, o.get(k), r.get(k)) for k in KEYS]
        if "latency" in r:
            metrics += [
                (f"latency {p}", o.get("latency", {}).get(p), r["latency"].get(p))
                for p in ("p50_ms", "p99_ms")
            ]
        for k, a, b in metrics:
            if isinstance(a, int | float) and isinstance(b, int | float) and a:
                lines.append(
                    f"| {'/'.join(map(str, key(r)))} | {k} | {a:,.2f} | {b:,.2f} | "
                    f"{(b - a) / a:+.1%} |"
                )
    return "\n".join(lines)
