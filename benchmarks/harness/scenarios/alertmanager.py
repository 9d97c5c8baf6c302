"""Alertmanager on the `alerts` stream: the same routes, inhibition rules, silences and
webhook, the alerts posted to its API v2 in batches of 1,000 from a spawned process."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks.harness import configs, load
from benchmarks.harness.infra import proc_stat
from benchmarks.harness.run import SPAWN, Ctx, rate, timelines, watch
from benchmarks.peers import ALERTMANAGER_BIN, AlertmanagerProcess, WebhookReceiver

POST_BATCH = 1000


async def run(ctx: Ctx, tenants: list[str], silences: int, want: set[str]) -> dict | None:
    """One Alertmanager run; None (with a note) when it is not installed."""
    a = ctx.args
    if ALERTMANAGER_BIN is None:
        ctx.notes.append("Alertmanager not installed: no comparison")
        return None
    receiver = WebhookReceiver(keep_payloads=False)
    await receiver.start()
    am = AlertmanagerProcess(Path(tempfile.mkdtemp(prefix="am-", dir=ctx.run_dir)))
    env = {
        "BENCH_WEBHOOK_URL": receiver.url,
        "BENCH_GROUP_WAIT": a.group_wait,
        "BENCH_GROUP_INTERVAL": a.group_interval,
    }
    am.start(configs.alertmanager_config("alerts", env))
    try:
        await am.ready()
        sent, started, out = SPAWN.Value("q", 0), SPAWN.Event(), SPAWN.Queue()
        spec = {
            "n": a.alerts,
            "batch": POST_BATCH,
            "tenants": tenants,
            "silences": load.silence_hosts(silences, a.alerts),
        }
        proc = SPAWN.Process(
            target=load.post_alertmanager, args=(am.port, spec, sent, started, out), daemon=True
        )
        proc.start()
        started.set()

        def tick() -> str:
            if am.proc is None or am.proc.poll() is not None:
                raise RuntimeError(f"Alertmanager exited\n{am.log()}")
            return f"posted {sent.value:,}"

        ok = await watch(
            f"alertmanager {len(tenants)} tenant(s)",
            len(want),
            lambda: len(receiver.first),
            lambda: len(receiver.first) >= len(want),
            tick=tick,
            stall=120,
        )
        posted = out.get(timeout=600)
        proc.join(10)
        t0 = posted["t0"]
        t_last = max(receiver.first.values()) if receiver.first else t0
        got = set(receiver.first)
        notifications = len(receiver.arrivals)
        assert am.proc is not None
        result: dict[str, Any] = {
            "scenario": "alerts",
            "system": "alertmanager",
            "version": am.version(),
            "alerts": a.alerts,
            "tenants": len(tenants),
            "post_batch": POST_BATCH,
            "silences": silences,
            "expected_notified": len(want),
            "arrived": len(want & got),
            "missing": len(want - got),
            "post_rate": rate(posted["items"], t0, posted["t1"]),
            "alerts_per_s": rate(posted["items"], t0, t_last),
            "notifications": notifications,
            "notifications_per_s": rate(notifications, t0, t_last),
            "alerts_in_notifications": receiver.alerts_total,
            "seconds": t_last - t0,
            "rss_mib": proc_stat(am.proc.pid)[1],
            "timeline": timelines(posted["timeline"], receiver, t0),
        }
        if not ok or result["missing"]:
            result["error"] = (
                f"Alertmanager: {result['missing']} of {len(want)} expected alerts missing"
            )
        return result
    finally:
        am.stop()
        await receiver.stop()
