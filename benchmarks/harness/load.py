"""Load generation and the ceiling, each in its own process (spawned, so the harness's
event loop, the webhook receiver and the progress bar never share a GIL with them).

* ``produce``: a confluent-kafka producer (murmur2_random, lz4, linger 5 ms) writing
  batches (a JSON array per record, keyed by tenant), as fast as it can or paced.
* ``bare_consume``: the ceiling, a bare aiokafka consumer reading the same topic from
  the beginning and orjson-decoding every record.
* ``post_alertmanager``: the same alerts posted to Alertmanager's API v2.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from typing import Any

import orjson

from benchmarks.peers import api_request
from models.wire import format_time

# -- the workloads, by index (the producer and the harness's expectations agree) --------

INHIBIT_RULES = 10
GROUPS = 100  # the stream's (alertname, cluster) pairs: alert i is in group i % 100


def alert_tenant(i: int, tenants: list[str]) -> str:
    """The tenant of alert i, a function of its group: the stream has 100 groups for any
    tenant count, and with one tenant all of them sit on one partition."""
    return tenants[(i % GROUPS) % len(tenants)]


def alerts_workload(n: int, tenants: list[str]) -> list[dict[str, str]]:
    """The suppression benchmark's alert stream (alertname x cluster: 100 groups), each
    group owned by one of the tenants."""
    from benchmarks.suppression import make_alerts

    out = make_alerts(n, INHIBIT_RULES)
    for i, labels in enumerate(out):
        labels["tenant"] = alert_tenant(i, tenants)
    return out


def sources_workload(tenants: list[str]) -> list[dict[str, str]]:
    """The inhibition sources (Down{k}, critical) for every tenant."""
    from benchmarks.suppression import make_sources

    return [{**s, "tenant": t} for t in tenants for s in make_sources(INHIBIT_RULES)]


def silence_hosts(n_silences: int, n_alerts: int) -> list[int]:
    """The suppression benchmark's silences: instance host-(20 i) (or outside the stream)."""
    return [i * 20 if i * 20 < n_alerts else n_alerts + i for i in range(n_silences)]


def silence_body(host: int, now: float) -> dict[str, Any]:
    """The API v2 silence of instance host-N, for both Alertmanager and the worker."""
    return {
        "matchers": [
            {"name": "instance", "value": f"host-{host}", "isRegex": False, "isEqual": True},
            {"name": "alertname", "value": "Alert.*", "isRegex": True, "isEqual": True},
        ],
        "startsAt": format_time(now - 60),
        "endsAt": format_time(now + 86400),
        "createdBy": "bench",
        "comment": "bench",
    }


def latency_labels(
    i: int, tenants: list[str], prefix: str = "Lat", names: int = 10
) -> dict[str, str]:
    return {
        "alertname": f"{prefix}{i % names}",
        "instance": f"host-{i}",
        "severity": "warning",
        "tenant": tenants[i % len(tenants)],
    }


def metric_series(s: int, n_tenants: int) -> tuple[int, str, dict[str, str], float]:
    """Series s: (tenant index, metric, labels, value). Host h0 of every 10th tenant
    breaches (95 > 90); the rest sit at 50."""
    t = s % n_tenants
    metric = (s // n_tenants) % 100
    host = s // (n_tenants * 100)
    value = 95.0 if host == 0 and t % 10 == 0 else 50.0
    return t, f"m{metric}", {"host": f"h{host}"}, value


def expected_metric_alerts(series: int, n_tenants: int) -> int:
    return sum(1 for s in range(series) if metric_series(s, n_tenants)[3] > 90)


def _items(spec: dict[str, Any]) -> Iterator[tuple[int, Any]]:
    """(tenant index, wire item without its timestamps) in send order; a metrics item is
    its JSON up to the timestamp's value (``{...,"ts":``)."""
    kind, n, tenants = spec["kind"], spec["n"], spec["tenants"]
    start = spec.get("start", 0)
    if kind == "alerts":
        index = {t: j for j, t in enumerate(tenants)}
        for labels in alerts_workload(n, tenants)[start:]:
            yield index[labels["tenant"]], {"labels": labels}
    elif kind in ("latency", "recovery", "probe"):
        prefix, names = spec.get("alertname", "Lat"), spec.get("names", 10)
        for i in range(start, start + n):
            labels = latency_labels(i, tenants, prefix, names)
            yield i % len(tenants), {"labels": labels}
    elif kind == "metrics":  # pre-encoded per series: the producer must outrun the worker
        series = spec["series"]
        encoded: dict[int, tuple[int, bytes]] = {}
        for i in range(start, start + n):
            s = i % series
            if s not in encoded:
                t, name, labels, value = metric_series(s, len(tenants))
                item = orjson.dumps({"name": name, "labels": labels, "value": value})
                encoded[s] = t, item[:-1] + b',"ts":'
            yield encoded[s]
    else:
        raise ValueError(kind)


def produce(spec: dict[str, Any], sent: Any, started: Any, flushed: Any, out: Any) -> None:
    """Produce spec['n'] items in records of spec['batch'], paced at spec['rate'] items/s
    (0: as fast as possible), after ``started`` is set; sets ``flushed`` once every record
    is in the broker. Puts {'t0', 't1', 'timeline': [(second, items)]} on out."""
    from confluent_kafka import Producer

    from app.client import bootstrap_servers

    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers(spec["broker"]),
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "compression.type": "lz4",
            "batch.size": 1 << 20,
            "queue.buffering.max.kbytes": 1 << 20,
        }
    )
    topic, batch, rate, kind = spec["topic"], spec["batch"], spec["rate"], spec["kind"]
    keys = [t.encode() for t in spec["tenants"]]
    buffers: list[list[Any]] = [[] for _ in keys]
    ends_in = spec.get("ends_in", 3600.0)
    start = spec.get("start", 0)
    timeline: dict[int, int] = {}
    errors: list[str] = []
    records = 0
    count = 0

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    def flush(t: int) -> None:
        nonlocal records, count
        items = buffers[t]
        if not items:
            return
        now = time.time()
        if kind == "metrics":  # items are '{...,"ts":' fragments
            ts = orjson.dumps(now)
            payload = b"[" + (ts + b"},").join(items) + ts + b"}]"
        else:
            created = f"{now:.6f}"
            for it in items:
                it["annotations"] = {"bench_created": created}
                it["ends_at"] = now + ends_in
                if kind == "latency":  # one group per record, unique across producers
                    it["labels"]["batch"] = f"s{start}r{records}"
            payload = orjson.dumps(items)
        while True:
            try:
                producer.produce(topic, payload, keys[t], on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        records += 1
        count += len(items)
        sec = int(now)
        timeline[sec] = timeline.get(sec, 0) + len(items)
        sent.value = count
        buffers[t] = []
        if rate:
            ahead = t0 + count / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)

    started.wait()
    t0 = time.time()
    for t, item in _items(spec):
        buffers[t].append(item)
        if len(buffers[t]) >= batch:
            flush(t)
    for t in range(len(keys)):
        flush(t)
    producer.flush(60)
    flushed.set()
    t1 = time.time()
    out.put(
        {
            "t0": t0,
            "t1": t1,
            "items": count,
            "records": records,
            "errors": errors[:5],
            "error_count": len(errors),
            "timeline": sorted(timeline.items()),
        }
    )


def bare_consume(broker: str, topic: str, partitions: int, out: Any) -> None:
    """The ceiling: read the whole topic with a bare aiokafka consumer, orjson each value."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from app.client import bootstrap_servers

    async def run() -> dict[str, Any]:
        c = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(broker),
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 << 20,
            fetch_max_bytes=64 << 20,
        )
        await c.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            c.assign(tps)
            await c.seek_to_beginning(*tps)
            end = await c.end_offsets(tps)
            goal = sum(end.values())
            records = items = 0
            t0 = time.perf_counter()
            while records < goal:
                got = await c.getmany(timeout_ms=1000, max_records=5000)
                for msgs in got.values():
                    for m in msgs:
                        doc = orjson.loads(m.value)
                        items += len(doc) if isinstance(doc, list) else 1
                    records += len(msgs)
            dt = time.perf_counter() - t0
            return {"records": records, "items": items, "seconds": dt, "rate": items / dt}
        finally:
            await c.stop()

    out.put(asyncio.run(run()))


def post_alertmanager(port: int, spec: dict[str, Any], sent: Any, started: Any, out: Any) -> None:
    """Post the silences, the sources, then the alert stream in batches, to Alertmanager's
    API v2."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    now = time.time()
    for host in spec.get("silences", []):
        api_request(conn, "POST", "/api/v2/silences", silence_body(host, now))
    ends = format_time(now + 3600)
    sources = sources_workload(spec["tenants"])
    api_request(
        conn,
        "POST",
        "/api/v2/alerts",
        [{"labels": s, "startsAt": format_time(now), "endsAt": ends} for s in sources],
    )
    alerts = alerts_workload(spec["n"], spec["tenants"])
    batch = spec["batch"]
    started.wait()
    t0 = time.time()
    timeline: dict[int, int] = {}
    for i in range(0, len(alerts), batch):
        t = time.time()
        created = f"{t:.6f}"
        chunk = [
            {
                "labels": a,
                "annotations": {"bench_created": created},
                "startsAt": format_time(t),
                "endsAt": ends,
            }
            for a in alerts[i : i + batch]
        ]
        api_request(conn, "POST", "/api/v2/alerts", chunk)
        sent.value = i + len(chunk)
        timeline[int(t)] = timeline.get(int(t), 0) + len(chunk)
    t1 = time.time()
    out.put({"t0": t0, "t1": t1, "items": len(alerts), "timeline": sorted(timeline.items())})
