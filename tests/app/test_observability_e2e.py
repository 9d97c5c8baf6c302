"""Observability on one worker process: `/metrics` parsed with prometheus-client's own
parser (karma's version probe, counters that move, gauges read from live state), the
dashboard and rules against what it serves, the table views, its JSON logs, and one
trace from an alert post to the webhook, exported to a real OTLP/HTTP receiver."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from confluent_kafka import Producer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client.parser import text_string_to_metric_families

from app.broker import free_port
from benchmarks.peers import WebhookReceiver
from tests.conftest import Worker, eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

PIPELINES = """
rules:
  - alert: HotTrace
    metric: trace_cpu
    window: 1s
    aggregate: avg
    condition: "> 90"
    for: 0s
event_rules:
  - alert: TracedEvent
    kind: count
    match: {type: traced}
    window: 1m
    condition: ">= 1"
  - alert: TracedSilence
    kind: absence
    match: {type: beat}
    group_by: [service]
    for: 1s
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ops
    webhook_configs:
      - url: ${HOOK}
"""


class OtlpReceiver:
    """A loopback OTLP/HTTP traces endpoint: decodes each export (protobuf) and keeps
    every span as a dict (ids in hex)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.spans: list[dict] = []
        self._runner: web.AppRunner | None = None

    async def _export(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest.FromString(await request.read())
        for rs in export.resource_spans:
            for ss in rs.scope_spans:
                self.spans += [
                    {
                        "name": s.name,
                        "trace": s.trace_id.hex(),
                        "id": s.span_id.hex(),
                        "parent": s.parent_span_id.hex(),
                        "attributes": {a.key: a.value.string_value for a in s.attributes},
                    }
                    for s in ss.spans
                ]
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    async def start(self) -> None:
        server = web.Application()
        server.router.add_post("/v1/traces", self._export)
        self._runner = web.AppRunner(server)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class Scope:
    def __init__(
        self, worker: Worker, receiver: WebhookReceiver, otlp: OtlpReceiver, broker: str
    ) -> None:
        self.worker = worker
        self.receiver = receiver
        self.otlp = otlp
        self.broker = broker

    async def get(self, path: str) -> tuple[int, str, str]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.worker.url + path, headers={"X-Scope-OrgID": "acme"}) as r,
        ):
            return r.status, r.headers.get("Content-Type", ""), await r.text()

    async def post(self, path: str, body: object) -> int:
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.worker.url + path, json=body, headers={"X-Scope-OrgID": "acme"}) as r,
        ):
            assert r.status < 300, await r.text()
            return r.status

    async def scrape(self) -> dict[tuple[str, tuple], float]:
        """Every sample of /metrics: (name, sorted labels) -> value."""
        status, ctype, text = await self.get("/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype)
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scope(broker: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scope]:
    tmp = tmp_path_factory.mktemp("observability")
    (tmp / "pipelines.yaml").write_text(PIPELINES)
    receiver, otlp = WebhookReceiver(), OtlpReceiver()
    await receiver.start()
    await otlp.start()
    env = {
        "HOOK": receiver.url,
        "ALERTSTREAM_LOG_FORMAT": "json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp.port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms between exports (5 s by default)
    }
    worker = Worker(broker, Path(tmp / "pipelines.yaml"), tmp, env)
    worker.start()
    try:
        await worker.ready()
        yield Scope(worker, receiver, otlp, broker)
    finally:
        worker.stop()
        await receiver.stop()
        await otlp.stop()


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_karma_probe_counters_and_live_state(scope: Scope) -> None:
    before = await scope.scrape()
    # karma's probe: alertmanager_build_info{version} must be a release >= 0.22 (its
    # semver constraint refuses a pre-release such as 0.25.0-alertstream)
    [(_, labels)] = [k for k in before if k[0] == "alertmanager_build_info"]
    version = dict(labels)["version"]
    major, minor, _ = (int(p) for p in version.split("."))
    assert (major, minor) >= (0, 22), version
    assert value(before, "process_resident_memory_bytes") > 0
    assert value(before, "alertstream_alerts_received_total") == 0

    ends = time.time() + 3600
    await scope.post(
        "/api/v2/silences",
        {
            "matchers": [{"name": "alertname", "value": "Quiet", "isRegex": False}],
            "startsAt": "2020-01-01T00:00:00Z",
            "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ends)),
            "createdBy": "test",
            "comment": "metrics",
        },
    )
    await scope.post(
        "/api/v2/alerts",
        [{"labels": {"alertname": n, "host": "h1"}} for n in ("Loud", "Louder", "Quiet")],
    )
    cool = [{"name": "trace_cpu", "value": 10, "ts": time.time() - i} for i in range(4, -1, -1)]
    await scope.post("/api/v1/metrics", cool)  # judged by HotTrace, firing nothing
    producer = Producer({"bootstrap.servers": scope.broker.removeprefix("kafka://")})
    producer.produce(scope.worker.topic("alerts"), b"{not json", b"acme")
    producer.flush(10)
    got = await scope.receiver.wait_for(2, timeout=30)
    assert sorted(r["groupLabels"]["alertname"] for r in got) == ["Loud", "Louder"]

    async def settled() -> dict | None:
        after = await scope.scrape()
        wanted = (
            value(after, "alertmanager_notifications_total", integration="webhook") == 2
            and value(after, "alertmanager_alerts_invalid_total") == 1
            and sum(v for (n, _), v in after.items() if n == "alertstream_dlq_records") >= 1
            and value(after, "alertstream_rule_evaluations_total", kind="windowed") >= 1
        )
        return after if wanted else None

    after = await eventually(settled, timeout=30, every=0.5)
    assert after, await scope.scrape()
    assert value(after, "alertstream_alerts_received_total") == 3
    assert value(after, "alertstream_samples_received_total") == 5
    assert value(after, "alertstream_rule_samples_matched_total") == 5
    assert value(after, "alertmanager_notifications_failed_total", integration="webhook") == 0
    assert (
        value(after, "alertstream_notifications_total", channel="webhook", outcome="delivered") == 2
    )
    assert (
        value(after, "alertmanager_notification_latency_seconds_count", integration="webhook") == 2
    )
    assert value(after, "alertmanager_alerts", state="active") == 2
    assert value(after, "alertmanager_alerts", state="suppressed") == 1
    assert value(after, "alertmanager_silences", state="active") == 1
    assert value(after, "alertmanager_dispatcher_aggregation_groups") == 3
    alerts_keys = [v for (n, ls), v in after.items() if ("table", "alerts") in ls]
    assert sum(alerts_keys) >= 3, alerts_keys
    lag = {
        dict(ls)["partition"]: v
        for (n, ls), v in after.items()
        if n == "alertstream_consumer_lag" and dict(ls)["topic"] == scope.worker.topic("alerts")
    }
    assert lag and set(lag.values()) == {0.0}, lag


async def test_the_dashboard_and_the_rules_read_metrics_the_worker_serves(scope: Scope) -> None:
    served = {name for name, _ in await scope.scrape()}
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    dashboard = json.loads((deploy / "grafana" / "alertstream.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    rules = yaml.safe_load((deploy / "prometheus" / "alertstream-rules.yml").read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = {m for e in exprs for m in re.findall(r"\b(?:alertstream|alertmanager|process)_\w+", e)}
    assert len(used) >= 15, used
    assert used <= served, sorted(used - served)


async def test_table_views_answer_decoded_json_pages_and_forward_by_tenant(scope: Scope) -> None:
    names = [f"Table{i}" for i in range(5)]
    alerts = [{"labels": {"alertname": n, "tenant": "tables"}} for n in names]
    await scope.post("/api/v2/alerts", alerts)

    async def table(path: str) -> tuple[int, object]:
        async with aiohttp.ClientSession() as http, http.get(scope.worker.url + path) as r:
            return r.status, await r.json()

    async def all_keys() -> list[str] | None:
        status, page = await table("/table/alerts/?tenant=tables&limit=1000")
        return page["keys"] if status == 200 and len(page["keys"]) >= 5 else None

    assert await eventually(all_keys, timeout=20), await table("/table/alerts/?tenant=tables")
    status, listing = await table("/table/")
    assert status == 200
    assert {"alerts", "history", "nflog"} <= {t["name"] for t in listing}
    status, detail = await table("/table/alerts")  # no trailing slash: what `make run` prints
    assert status == 200 and detail["changelog"].endswith("alerts-changelog"), detail
    assert {p["owner"] for p in detail["partitions"]} == {scope.worker.url}, detail

    # pages of two keys: the same keys as one page, in order, each once
    keys: list[str] = []
    after = ""
    for _ in range(10):
        status, page = await table(f"/table/alerts/?tenant=tables&limit=2{after}")
        assert status == 200 and len(page["keys"]) <= 2, page
        keys += page["keys"]
        if page["next"] is None:
            break
        after = f"&after={page['next']}"
    assert keys == sorted(keys) and keys == await all_keys()
    status, prefixed = await table(f"/table/alerts/?tenant=tables&prefix={keys[0][:3]}&values=1")
    assert keys[0] in prefixed["keys"] and all(k.startswith(keys[0][:3]) for k in prefixed["keys"])
    assert all(isinstance(v, dict) for v in prefixed["values"]), prefixed

    # one key's value is JSON, found by tenant or in whichever partition holds it
    fp = keys[0]
    for query in ("?tenant=tables", ""):
        status, found = await table(f"/table/alerts/{fp}/{query}")
        assert status == 200, found
        assert found["value"]["labels"]["alertname"] in names, found
        assert found["value"]["labels"]["tenant"] == "tables", found
    status, history = await table(f"/table/history/?tenant=tables&prefix={fp}/")
    [event_key] = history["keys"]  # "<fingerprint>/<time>": a key with a slash
    status, event = await table(f"/table/history/{event_key}/")
    assert status == 200 and event["value"]["kind"] == "alert", event

    status, missing = await table("/table/nope/")
    assert status == 404 and "alerts" in missing["error"], missing
    status, bad = await table("/table/alerts/?partition=x&limit=0")
    assert status == 400, bad
    assert bad["errors"] == [
        "partition: 'x' is not an integer",
        "limit: must be between 1 and 1000",
    ]
    status, none = await table(f"/table/alerts/{'0' * 16}/")
    assert status == 404, none


async def test_the_worker_logs_one_json_event_per_line_with_tenant_and_group_key(
    scope: Scope,
) -> None:
    await scope.post("/api/v2/alerts", [{"labels": {"alertname": "Logged", "tenant": "logs"}}])

    def notify_events() -> list[dict]:
        events = [json.loads(line) for line in _log_lines(scope) if line.startswith("{")]
        return [e for e in events if e["message"].startswith("notify ") and e["tenant"] == "logs"]

    [event] = await eventually(notify_events, timeout=20)
    assert event["logger"] == "agents.runtime" and event["level"] == "info", event
    assert event["group_key"] == '{}:{alertname="Logged"}', event
    assert event["notification"] in event["message"], event
    text = [ln for ln in _log_lines(scope) if re.match(r"\[\d{4}-\d\d-\d\d [^]]*\] \[\d+\]", ln)]
    assert not text, text[:3]  # no event in Faust's text format


def _log_lines(scope: Scope) -> list[str]:
    return scope.worker.log_path.read_text(errors="replace").splitlines()


DELIVERY = ["alertstream.alerts", "alertstream.flush", "alertstream.deliver", "deliver webhook"]


@pytest.mark.parametrize(
    ("path", "body", "tenant", "alertname", "chain"),
    [
        (
            "/api/v2/alerts",
            [{"labels": {"alertname": "Traced", "tenant": "traces"}}],
            "traces",
            "Traced",
            ["POST /api/v2/alerts", *DELIVERY],
        ),
        (
            "/api/v1/metrics",
            [
                {"tenant": "sampled", "name": "trace_cpu", "value": 95, "ts": time.time() - i}
                for i in range(4, -1, -1)
            ],
            "sampled",
            "HotTrace",
            ["POST /api/v1/metrics", "alertstream.metrics", "alertstream.rules", *DELIVERY],
        ),
    ],
)
async def test_one_trace_from_an_alert_post_or_a_sample_to_the_webhook_over_otlp(
    scope: Scope, path: str, body: list, tenant: str, alertname: str, chain: list[str]
) -> None:
    await scope.post(path, body)

    def the_trace() -> dict[str, dict] | None:
        flush = [
            s
            for s in scope.otlp.spans
            if s["name"] == "alertstream.flush" and s["attributes"].get("tenant") == tenant
        ]
        if not flush:
            return None
        spans = {s["name"]: s for s in scope.otlp.spans if s["trace"] == flush[0]["trace"]}
        return spans if set(chain) <= set(spans) else None

    spans = await eventually(the_trace, timeout=30)
    assert spans, sorted({(s["name"], s["trace"][:6]) for s in scope.otlp.spans})
    hook = [r for r in scope.receiver.requests if r["groupLabels"].get("alertname") == alertname]
    assert len(hook) == 1, scope.receiver.requests
    assert spans[chain[0]]["parent"] == ""  # the post starts the trace
    for parent, child in itertools.pairwise(chain):
        assert spans[child]["parent"] == spans[parent]["id"], (child, spans)
    assert spans["alertstream.flush"]["attributes"]["channel"] == "webhook"
    assert spans["deliver webhook"]["attributes"]["outcome"] == "delivered"


async def test_a_producer_s_traceparent_header_is_continued_to_the_webhook(
    scope: Scope,
) -> None:
    """An event record whose producer set a W3C ``traceparent`` header: the events agent
    continues that trace, through the rule alert, the flush and the delivery."""
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    producer = Producer({"bootstrap.servers": scope.broker.removeprefix("kafka://")})
    producer.produce(
        scope.worker.topic("events"),
        json.dumps([{"type": "traced", "ts": time.time()}]).encode(),
        b"evented",
        headers=[("traceparent", f"00-{trace_id}-{parent}-01".encode())],
    )
    producer.flush(10)
    chain = ["alertstream.events", *DELIVERY]

    def the_trace() -> dict[str, dict] | None:
        spans = {s["name"]: s for s in scope.otlp.spans if s["trace"] == trace_id}
        return spans if set(chain) <= set(spans) else None

    spans = await eventually(the_trace, timeout=30)
    assert spans, sorted({(s["name"], s["trace"][:6]) for s in scope.otlp.spans})
    assert spans["alertstream.events"]["parent"] == parent
    for before, after in itertools.pairwise(chain):
        assert spans[after]["parent"] == spans[before]["id"], (after, spans)
    # the webhook request itself carries the delivery span's W3C traceparent
    sent = [_header(h, "traceparent") for h in scope.receiver.headers]
    assert f"00-{trace_id}-{spans['deliver webhook']['id']}-01" in sent, sent
    samples = await scope.scrape()
    assert value(samples, "alertstream_rule_evaluations_total", kind="event") >= 1
    assert ("alertstream_rule_evaluations_total", (("kind", "anomaly"),)) in samples


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


async def test_an_event_rule_s_timer_alert_and_a_command_continue_their_traces(
    scope: Scope,
) -> None:
    """An absence fired by the event rules' timer continues the trace of the tenant's
    last record (a heartbeat, then a later event that moves the tenant's clock past the
    rule's ``for``); an ack posted to the API is traced through the commands agent."""
    trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    now = time.time()
    producer = Producer({"bootstrap.servers": scope.broker.removeprefix("kafka://")})
    producer.produce(
        scope.worker.topic("events"),
        json.dumps(
            [{"type": "beat", "service": "api", "ts": now}, {"type": "other", "ts": now + 5}]
        ).encode(),
        b"ticked",
        headers=[("traceparent", f"00-{trace_id}-{parent}-01".encode())],
    )
    producer.flush(10)
    chain = ["alertstream.events", "alertstream.event_rules", *DELIVERY]

    def the_trace() -> dict[str, dict] | None:
        spans = {s["name"]: s for s in scope.otlp.spans if s["trace"] == trace_id}
        return spans if set(chain) <= set(spans) else None

    spans = await eventually(the_trace, timeout=30)
    assert spans, sorted({(s["name"], s["trace"][:6]) for s in scope.otlp.spans})
    for before, after in itertools.pairwise(chain):
        assert spans[after]["parent"] == spans[before]["id"], (after, spans)
    assert spans["alertstream.event_rules"]["attributes"]["tenant"] == "ticked"
    hook = [r for r in scope.receiver.requests if r["groupLabels"].get("alertname")]
    assert any(r["commonLabels"].get("alertname") == "TracedSilence" for r in hook), hook

    await scope.post("/api/v1/groups/ack", {"group_key": '{}:{alertname="Loud"}'})

    def command_trace() -> dict[str, dict] | None:
        posts = [s for s in scope.otlp.spans if s["name"] == "POST /api/v1/groups/ack"]
        spans = {
            s["name"]: s for s in scope.otlp.spans if posts and s["trace"] == posts[0]["trace"]
        }
        return spans if "alertstream.commands" in spans else None

    spans = await eventually(command_trace, timeout=20)
    assert spans, sorted({(s["name"], s["trace"][:6]) for s in scope.otlp.spans})
    assert spans["alertstream.commands"]["parent"] == spans["POST /api/v1/groups/ack"]["id"]
    assert spans["alertstream.commands"]["attributes"]["tenant"] == "acme"
