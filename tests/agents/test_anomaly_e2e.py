"""Anomaly rules end to end: spike -> one alert -> resolved; the model survives a restart."""

from __future__ import annotations

import asyncio
import math
import random

import aiohttp

from app.client import get_alerts_system

PIPELINES = """
rules:
  - alert: LatencyAnomaly
    kind: anomaly
    metric: latency
    warmup: 150
    severity: warning
    annotations:
      summary: "latency of {{ labels.svc }} is {{ value }}"
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs:
      - url: ${HOOK}
"""


def points(start: int, n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "tenant": "acme",
            "name": "latency",
            "labels": {"svc": "api"},
            "value": 100 + 10 * math.sin(i / 20) + rng.gauss(0, 2),
            "ts": 1_700_000_000 + 60 * i,
        }
        for i in range(start, start + n)
    ]


def spike(i: int, value: float = 400.0) -> dict:
    return {
        "tenant": "acme",
        "name": "latency",
        "labels": {"svc": "api"},
        "value": value,
        "ts": 1_700_000_000 + 60 * i,
    }


async def test_spike_alerts_once_resolves_and_model_survives_restart(make_worker, receiver, broker):
    worker = make_worker(PIPELINES, {"HOOK": receiver.url, "ALERTSTREAM_CHECKPOINT_EVERY": "1"})
    worker.start()
    await worker.ready()
    client = get_alerts_system({"broker": broker, "topic_prefix": worker.namespace + "."})
    assert client.send_metrics(points(0, 400, seed=1))
    assert client.send_metrics([spike(400)])
    # a group whose alerts resolve before group_wait notifies nothing (as Alertmanager):
    # let the firing notification out before the series calms down
    assert len(await receiver.wait_for(1, timeout=40)) == 1, worker.log()
    # long enough to leave the detector's quiet period after a detection (~100-600 points)
    assert client.send_metrics(points(401, 700, seed=2))
    got = await receiver.wait_for(2, timeout=40)
    assert [p["status"] for p in got] == ["firing", "resolved"], worker.log()
    alert = got[0]["alerts"][0]
    assert alert["labels"]["alertname"] == "LatencyAnomaly"
    assert float(alert["annotations"]["anomaly_score"]) >= 0.6
    assert "expected_range" in alert["annotations"]

    await asyncio.sleep(2.5)  # one checkpoint of the learned model
    worker.kill()
    worker.start()
    await worker.ready()
    # no warm-up after the restart: the very next spike is judged by the restored model
    # (it has seen a spike of 400 already, so this one is larger)
    assert client.send_metrics([spike(1101, 1000.0)])
    got = await receiver.wait_for(3, timeout=40)
    assert len(got) == 3 and got[2]["status"] == "firing", worker.log()
    assert "models restored" in worker.log_path.read_text()
    async with (
        aiohttp.ClientSession() as http,
        http.get(worker.url + "/api/v1/models", params={"tenant": "acme"}) as r,
    ):
        [model] = (await r.json())["data"]
    assert model["rule"] == "LatencyAnomaly" and model["points"] > 1000
    lo, hi = model["expected_range"]
    assert lo < hi  # (the band has moved towards the spikes it learned)
