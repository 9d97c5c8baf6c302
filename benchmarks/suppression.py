"""Suppression throughput: routing + inhibition + silences, ours vs Alertmanager.

Run: ``.venv/bin/python -m benchmarks.suppression [--alerts 200000] [--silences 10000]
[--rules 100] [--no-alertmanager]``.

The same workload on both sides:

* 10,000 active silences, each ``instance="host-N", alertname=~"Alert.*"`` (a mix
  of alerts they hit and miss), 100 inhibition rules (``alertname="Down{k}",
  severity="critical"`` inhibits ``service="svc{k}", severity="warning"`` with
  ``equal: [cluster]``) and their 100 firing source alerts;
* a route tree of 10 team routes grouping by ``[alertname, cluster]`` (100 groups);
* a stream of distinct alerts (200,000 by default).

Ours: in process, per alert ``RouteTree.root.match`` + ``Inhibitor.mutes`` +
``SilenceIndex.mutes`` (fingerprints precomputed, as the pipeline has them).

Alertmanager: started on loopback with the same config, silences created through
``POST /api/v2/silences``, alerts posted to ``POST /api/v2/alerts`` in batches of
1,000.  Its POST validates, stores and dispatches the alerts to aggregation
groups; silences and inhibition are applied later, when a group flushes.  So its
rate is the rate it accepts alerts, an upper bound on its suppression rate.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import shutil
import tempfile
import time
from pathlib import Path

from app.config.routing import InhibitRuleConfig, RouteConfig
from benchmarks.harness.infra import proc_stat
from benchmarks.peers import ALERTMANAGER_BIN, AlertmanagerProcess, api_request
from models.alerting.fingerprint import fingerprint
from models.notify.routing import RouteTree
from models.suppression.inhibit import Inhibitor
from models.suppression.matchers import Matcher
from models.suppression.silences import SilenceIndex, new_silence
from models.wire import format_time

TEAMS = 10


def make_config(rules: int) -> dict:
    route = {
        "receiver": "default",
        "group_by": ["alertname", "cluster"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "routes": [{"matchers": [f'team="team{j}"'], "receiver": f"team{j}"} for j in range(TEAMS)],
    }
    inhibit = [
        {
            "source_matchers": [f'alertname="Down{k}"', 'severity="critical"'],
            "target_matchers": [f'service="svc{k}"', 'severity="warning"'],
            "equal": ["cluster"],
        }
        for k in range(rules)
    ]
    receivers = [{"name": "default"}] + [{"name": f"team{j}"} for j in range(TEAMS)]
    return {"route": route, "inhibit_rules": inhibit, "receivers": receivers}


def make_alerts(n: int, rules: int) -> list[dict[str, str]]:
    out = []
    for i in range(n):
        out.append(
            {
                "alertname": f"Alert{i % 10}",
                "cluster": f"c{(i // 10) % 10}",
                "service": f"svc{i % max(rules, 1) if i % 7 == 0 else 1000 + i % 50}",
                "team": f"team{i % TEAMS}",
                "instance": f"host-{i}",
                "severity": "warning" if i % 3 else "critical",
                "tenant": "default",
            }
        )
    return out


def make_sources(rules: int) -> list[dict[str, str]]:
    return [
        {
            "alertname": f"Down{k}",
            "severity": "critical",
            "cluster": f"c{k % 10}",
            "tenant": "default",
        }
        for k in range(rules)
    ]


def silence_matchers(i: int, n_alerts: int) -> list[Matcher]:
    # every 20th alert instance is silenced; the rest target hosts outside the stream
    host = i * 20 if i * 20 < n_alerts else n_alerts + i
    return [Matcher("instance", "=", f"host-{host}"), Matcher("alertname", "=~", "Alert.*")]


def run_ours(cfg: dict, alerts: list[dict[str, str]], sources, n_sil: int) -> dict:
    now = time.time()
    tree = RouteTree.from_config(RouteConfig.model_validate(cfg["route"]))
    inhibitor = Inhibitor.from_config(
        [InhibitRuleConfig.model_validate(r) for r in cfg["inhibit_rules"]]
    )
    for s in sources:
        inhibitor.add(fingerprint(s), s)
    silences = SilenceIndex()
    for i in range(n_sil):
        silences.put(
            new_silence(silence_matchers(i, len(alerts)), now - 60, now + 86400, "bench", "x"),
            now,
        )
    fps = [fingerprint(a) for a in alerts]
    root = tree.root
    groups = set()
    muted_inh = muted_sil = 0
    t0 = time.perf_counter()
    for labels, _fp in zip(alerts, fps, strict=True):
        for r in root.match(labels):
            groups.add(r.group_id(labels["tenant"], labels))
        if inhibitor.mutes(labels, now):
            muted_inh += 1
        elif silences.mutes(labels, now):
            muted_sil += 1
    dt = time.perf_counter() - t0
    # the two lookups alone (no group-key strings), for the per-alert matching cost
    t1 = time.perf_counter()
    for labels in alerts:
        inhibitor.mutes(labels, now)
        silences.mutes(labels, now)
    dt_match = time.perf_counter() - t1
    return {
        "alerts": len(alerts),
        "seconds": dt,
        "rate": len(alerts) / dt,
        "match_us": dt_match / len(alerts) * 1e6,
        "groups": len(groups),
        "inhibited": muted_inh,
        "silenced": muted_sil,
    }


def run_alertmanager(cfg: dict, alerts, sources, n_sil: int, batch: int) -> dict | None:
    if ALERTMANAGER_BIN is None:
        print("Alertmanager not installed: skipped (apt-get install prometheus-alertmanager)")
        return None
    tmp = Path(tempfile.mkdtemp(prefix="am-bench-"))
    am = AlertmanagerProcess(tmp)
    am.start(cfg)
    try:
        asyncio.run(am.ready())
        conn = http.client.HTTPConnection("127.0.0.1", am.port, timeout=60)
        now = time.time()
        t0 = time.perf_counter()
        for i in range(n_sil):
            body = {
                "matchers": [
                    {**m.to_api(), "isEqual": m.is_equal} for m in silence_matchers(i, len(alerts))
                ],
                "startsAt": format_time(now - 60),
                "endsAt": format_time(now + 86400),
                "createdBy": "bench",
                "comment": "x",
            }
            api_request(conn, "POST", "/api/v2/silences", body)
        sil_s = time.perf_counter() - t0
        starts, ends = format_time(now), format_time(now + 3600)
        api_request(
            conn,
            "POST",
            "/api/v2/alerts",
            [{"labels": s, "startsAt": starts, "endsAt": ends} for s in sources],
        )
        t0 = time.perf_counter()
        for i in range(0, len(alerts), batch):
            chunk = [
                {"labels": a, "startsAt": starts, "endsAt": ends} for a in alerts[i : i + batch]
            ]
            api_request(conn, "POST", "/api/v2/alerts", chunk)
        dt = time.perf_counter() - t0
        assert am.proc is not None
        return {
            "alerts": len(alerts),
            "seconds": dt,
            "rate": len(alerts) / dt,
            "silence_posts_per_s": n_sil / sil_s if sil_s else 0.0,
            "rss_mb": proc_stat(am.proc.pid)[1],
        }
    finally:
        am.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=200_000)
    ap.add_argument("--silences", type=int, default=10_000)
    ap.add_argument("--rules", type=int, default=100)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--no-alertmanager", action="store_true")
    args = ap.parse_args()

    cfg = make_config(args.rules)
    alerts = make_alerts(args.alerts, args.rules)
    sources = make_sources(args.rules)
    print(
        f"workload: {args.alerts} distinct alerts, {args.silences} active silences, "
        f"{args.rules} inhibit rules, {TEAMS} routes"
    )
    ours = run_ours(cfg, alerts, sources, args.silences)
    print(
        f"alertstream (in process): {ours['rate']:,.0f} alerts/s "
        f"({ours['seconds']:.2f} s; route+inhibit+silence; inhibit+silence lookups "
        f"{ours['match_us']:.2f} µs/alert); {ours['groups']} groups, "
        f"{ours['inhibited']} inhibited, {ours['silenced']} silenced"
    )
    if args.no_alertmanager:
        return
    am = run_alertmanager(cfg, alerts, sources, args.silences, args.batch)
    if am is None:
        return
    print(
        f"Alertmanager (API v2, loopback): {am['rate']:,.0f} alerts/s ({am['seconds']:.2f} s; "
        f"{am['silence_posts_per_s']:,.0f} silence POSTs/s; RSS {am['rss_mb']:.0f} MB)"
    )
    print(f"ratio ours/Alertmanager: {ours['rate'] / am['rate']:.1f}x")


if __name__ == "__main__":
    main()
