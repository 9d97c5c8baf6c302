"""Results: the JSON file, the Markdown table against the targets, the PNG plot, --compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGETS = {  # issue 9
    "alerts": "≥ 10,000 alerts/s and ≥ 2x Alertmanager (stretch 50,000/s)",
    "memory": "< 2 KB worker RSS per active alert at 200,000 active",
    "metrics": "≥ 300,000 samples/s and ≥ 25% of the bare consumer",
    "latency": "p99 < 100 ms at the highest sustained rate (seed: 10,000/s)",
    "soak": "80% of the sustained rate: RSS after warm-up grows < 5%, nothing lost",
    "recovery": "1,000,000 active: resumes < 30 s, 0 lost, 0 re-notified",
}


def _met(ok: bool, err: str) -> str:
    return "yes" if ok and not err else "no"


def _alertmanager(r: dict[str, Any], err: str) -> list[list[str]]:
    return [
        [
            "alerts (Alertmanager)",
            "-",
            f"{r['alerts']:,} alerts, {r.get('tenants', '-')} tenant(s)",
            f"{r['alerts_per_s']:,.0f} alerts/s to webhook (API ingest "
            f"{r['post_rate']:,.0f}/s), {r['notifications_per_s']:.1f} notif/s, "
            f"RSS {r['rss_mib']:,.0f} MiB{err}",
            "-",
            "reference",
            "-",
        ]
    ]


def _alerts(r: dict[str, Any], err: str) -> list[list[str]]:
    ratio = r.get("ratio_to_alertmanager")
    size = (
        f"{r['alerts']:,} fps, {r['tenants']} tenant(s), {r['groups']} groups notified, "
        f"{r['inhibition_rules']} inhibit rules, {r['silences']} silences, "
        f"group_interval {r['group_interval']}"
    )
    throughput = [
        "alerts",
        str(r["workers"]),
        size,
        f"{r['alerts_per_s']:,.0f} alerts/s to webhook (ingest {r['ingest_rate']:,.0f}/s), "
        f"{r['notifications_per_s']:.1f} notif/s{err}",
        (f"{ratio:.2f}x Alertmanager" if ratio else "no Alertmanager run")
        + f"; ceiling {r['ceiling']['rate']:,.0f}/s",
        TARGETS["alerts"],
        _met(r["alerts_per_s"] >= 10_000 and bool(ratio) and ratio >= 2, err),
    ]
    source = "read from the worker" if r.get("active_from_worker") else "as sent"
    memory = [
        "memory",
        str(r["workers"]),
        f"{r.get('active_alerts', r['alerts']):,} active ({source}), {r['tenants']} tenant(s)",
        f"{r['rss_bytes_per_active_alert']:,.0f} B RSS/active alert over start-up, "
        f"{r.get('settle_s', 0):.0f} s after the last arrival "
        f"({r.get('rss_bytes_per_active_alert_total', 0):,.0f} B with start-up; "
        f"RSS {r['rss_mib']:,.0f} MiB; at the last arrival "
        f"{r.get('rss_bytes_per_active_alert_at_last_arrival', 0):,.0f} B){err}",
        "-",
        TARGETS["memory"],
        _met(r["rss_bytes_per_active_alert"] < 2048, err),
    ]
    return [throughput, memory]


def _metrics(r: dict[str, Any], err: str) -> list[list[str]]:
    met = r["samples_per_s"] >= 300_000 and r["ratio_to_ceiling"] >= 0.25
    return [
        [
            "metrics",
            str(r["workers"]),
            f"{r['samples']:,} samples, {r['series']:,} series, {r['tenants']} tenants, "
            f"{r['rules']} rules/{r['window']}",
            f"{r['samples_per_s']:,.0f} samples/s, {r['cpu_us_per_sample']:.1f} µs CPU/sample{err}",
            f"ceiling {r['ceiling']['rate']:,.0f}/s ({r['ratio_to_ceiling']:.1%})",
            TARGETS["metrics"],
            _met(met, err),
        ]
    ]


def _ms(lat: dict[str, float]) -> str:
    return f"p50 {lat.get('p50_ms', 0):.0f} / p99 {lat.get('p99_ms', 0):.0f} ms"


def _latency(r: dict[str, Any], err: str) -> list[list[str]]:
    steps = ", ".join(
        f"{s['rate']:,}/s {'ok' if s['sustained'] else 'NOT'} ({_ms(s['latency'])})"
        for s in r["steps"]
    )
    lat = r["latency"]
    met = r["sustained_rate"] >= 10_000 and lat.get("p99_ms", 1e12) < 100
    return [
        [
            "latency",
            str(r["workers"]),
            f"steps of {r['step_duration_s']:.0f} s: {steps}",
            f"sustained {r['sustained_rate']:,}/s: {_ms(lat)}; p99 < 100 ms up to "
            f"{r['highest_rate_p99_under_100ms']:,}/s{err}",
            f"bounds: p99 {r['p99_bound_ms']:.0f} ms, drain {r['max_drain_s']} s",
            TARGETS["latency"],
            _met(met, err),
        ]
    ]


def _soak(r: dict[str, Any], err: str) -> list[list[str]]:
    growth = r.get("rss_growth_pct")
    warm = r.get("rss_mib_after_warmup") or 0.0
    return [
        [
            "soak",
            str(r["workers"]),
            f"{r['rate']:,}/s (80% of {r['sustained_rate']:,}/s) for {r['duration_s']:.0f} s",
            f"RSS {warm:.0f} MiB after {r['warmup_s']:.0f} s warm-up → "
            f"{r['rss_mib_end']:.0f} MiB ({growth if growth is not None else float('nan'):+.1f}%)"
            f"; lost {r['lost']}; {_ms(r['latency'])}{err}",
            f"sent {r['achieved_rate']:,.0f}/s",
            TARGETS["soak"],
            _met(growth is not None and growth < 5 and r["lost"] == 0, err),
        ]
    ]


def _recovery(r: dict[str, Any], err: str) -> list[list[str]]:
    resumed = r["seconds_to_resume"]
    met = resumed is not None and resumed < 30 and not r["lost"] and not r["renotified"]
    healthy = r["seconds_to_healthy"]
    return [
        [
            "recovery",
            "1",
            f"{r['active_alerts']:,} active alerts",
            f"healthy {healthy if healthy is not None else float('nan'):.1f} s, resumed "
            f"{resumed if resumed is not None else float('nan'):.1f} s, lost {r['lost']}, "
            f"re-notified {r['renotified']}; "
            f"{r['rss_bytes_per_active_alert']:,.0f} B RSS/alert{err}",
            "-",
            TARGETS["recovery"],
            _met(met, err) + (" (smaller size)" if r["active_alerts"] < 1e6 else ""),
        ]
    ]


ROWS = {
    "alerts": _alerts,
    "metrics": _metrics,
    "latency": _latency,
    "soak": _soak,
    "recovery": _recovery,
}


def rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    """[scenario, workers, size, measured, reference, target, met] for every run."""
    out: list[list[str]] = []
    for r in runs:
        err = f" **FAILED: {r['error']}**" if r.get("error") else ""
        make = _alertmanager if r.get("system") == "alertmanager" else ROWS[r["scenario"]]
        out += make(r, err)
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
        who += f" {r['tenants']}t" if r["scenario"] == "alerts" else ""
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
    "ratio_to_alertmanager",
    "sustained_rate",
    "rss_growth_pct",
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
        return (r["scenario"], r.get("workers"), r.get("system", "alertstream"), r.get("tenants"))

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
