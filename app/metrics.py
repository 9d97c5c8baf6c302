"""``GET /metrics``: the pipeline in Prometheus' text format, with Alertmanager's names
where a metric means what Alertmanager's does (its dashboards and karma read them).

Nothing here runs per alert. What the agents take in is counted per record by the owners
of their state (``IngestCounts``); deliveries are counted per batch of receipts; the rest
(alerts by state, silences, groups, table sizes, consumer lag) is read at scrape time
from state that exists anyway (custom collectors, as Alertmanager's own gauges are).
The registry belongs to one ``PipelineMetrics`` built by the worker, not to the
process: prometheus-client's global registry is never used.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import platform
import time
from collections import Counter as Tally
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import faust
from aiohttp import web
from faust.types import TP
from faust.web import Request, Response, View
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from app.api_v2 import VERSION
from channels import CHANNELS
from channels.outcome import DELIVERED
from channels.receipt import DEAD, FAILED, SKIPPED, Receipt
from models.access.permissions import READ
from models.alerting.alert import FIRING
from models.counts import IngestCounts
from models.rules.anomaly import AnomalyEvaluator
from models.rules.evaluator import RuleEvaluator
from models.rules.event_eval import EventEvaluator
from tables.store import PartitionStore

if TYPE_CHECKING:
    from agents.notify import ChannelSenders
    from agents.runtime import AlertRuntime

log = logging.getLogger(__name__)

# karma picks its API mapper with a semver constraint (">=0.19.0", Masterminds semver),
# which a pre-release version such as "0.25.0-alertstream" does not satisfy: the build
# info names the Alertmanager release whose API we answer, our own version is beside it
ALERTMANAGER_VERSION = VERSION["version"].split("-")[0]
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 60)
DLQ_TIMEOUT = 5.0  # seconds a scrape waits for the dlq topic's offsets
UNDELIVERED = frozenset({FAILED, DEAD})
OUTCOMES = (DELIVERED, FAILED, DEAD, SKIPPED)


def _version() -> str:
    try:
        return importlib.metadata.version("alertstream")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class Sources:
    """Where the collectors read from: the worker's owners of state."""

    def __init__(
        self,
        app: faust.App,
        runtime: AlertRuntime,
        events: IngestCounts,
        samples: Mapping[str, int],
        rules: RuleEvaluator,
        anomaly: AnomalyEvaluator,
        event_rules: EventEvaluator,
        stores: list[PartitionStore],
        offsets: PartitionStore,
        dlq_topic: str,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.events = events
        self.samples = samples  # agents.evaluate's per-record counts
        self.rules = rules  # the windowed rules (agents.evaluate.evaluator)
        self.anomaly = anomaly  # the anomaly rules (agents.evaluate.anomaly)
        self.event_rules = event_rules  # the event rules (agents.events)
        self.stores = stores
        self.offsets = offsets  # each guarded input's next expected offset
        self.dlq_topic = dlq_topic


class PipelineMetrics:
    """The worker's registry: process stats, delivery counters, and the collectors."""

    def __init__(self, sources: Sources, senders: ChannelSenders) -> None:
        self.sources = sources
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        r = self.registry
        self.sent = Counter(
            "alertmanager_notifications",
            "Notifications attempted, per integration.",
            ["integration"],
            registry=r,
        )
        self.failed = Counter(
            "alertmanager_notifications_failed",
            "Notifications that could not be delivered (failed or refused), per integration.",
            ["integration"],
            registry=r,
        )
        self.outcomes = Counter(
            "alertstream_notifications",
            "Notifications settled by the senders, per channel and outcome "
            "(delivered, failed, dead, skipped).",
            ["channel", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "alertmanager_notification_latency_seconds",
            "Seconds from a notification's first attempt to its verdict, retries included.",
            ["integration"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        for kind in CHANNELS:  # every integration from the start, at 0, as Alertmanager
            self.sent.labels(kind)
            self.failed.labels(kind)
            self.latency.labels(kind)
            for outcome in OUTCOMES:
                self.outcomes.labels(kind, outcome)
        self.dlq_records: dict[int, int] = {}
        self._dlq_read: asyncio.Task[None] | None = None  # shared by concurrent scrapes
        r.register(PipelineCollector(self))
        senders.observers.append(self.observe_receipts)

    def observe_receipts(self, receipts: list[Receipt]) -> None:
        """One batch of the senders' receipts (counted per channel and outcome)."""
        tally: Tally[tuple[str, str]] = Tally()
        for r in receipts:
            tally[(r.channel, r.status)] += 1
            if r.status != SKIPPED:
                self.latency.labels(r.channel).observe(r.latency)
        for (channel, status), n in tally.items():
            self.outcomes.labels(channel, status).inc(n)
            if status != SKIPPED:
                self.sent.labels(channel).inc(n)
            if status in UNDELIVERED:
                self.failed.labels(channel).inc(n)

    async def refresh_dlq(self) -> None:
        """Records on the `dlq` topic per partition (end minus start offset): two offset
        requests to the broker per scrape, one for scrapes at the same time; the last
        answer if the broker does not answer within DLQ_TIMEOUT."""
        if self._dlq_read is None or self._dlq_read.done():
            self._dlq_read = asyncio.ensure_future(self._read_dlq())
        await asyncio.shield(self._dlq_read)

    async def _read_dlq(self) -> None:
        app, topic = self.sources.app, self.sources.dlq_topic
        tps = [TP(topic, p) for p in range(app.conf.topic_partitions)]
        try:
            start, end = await asyncio.wait_for(
                asyncio.gather(app.consumer.earliest_offsets(*tps), app.consumer.highwaters(*tps)),
                timeout=DLQ_TIMEOUT,
            )
        except Exception as exc:  # the broker is away: keep the last answer
            log.warning("metrics: dlq offsets not read: %s", exc)
            return
        self.dlq_records = {tp.partition: end[tp] - start[tp] for tp in tps}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, labels: list[str], values: Mapping[tuple, float]) -> Metric:
    g = GaugeMetricFamily(name, doc, labels=labels)
    for key, v in values.items():
        g.add_metric(list(key), v)
    return g


class PipelineCollector(Collector):
    """What is read at scrape time; each part is O(tenants, partitions, silences), and
    alerts by state is one pass over the firing alerts' mute markers, as Alertmanager's
    gauge is."""

    def __init__(self, metrics: PipelineMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        s = self.metrics.sources
        now = time.time()
        yield _gauge(
            "alertmanager_build_info",
            "The Alertmanager release whose API this worker answers (karma reads it).",
            ["version", "revision", "branch", "goversion"],
            {(ALERTMANAGER_VERSION, f"alertstream-{_version()}", "", platform.python_version()): 1},
        )
        yield _gauge(
            "alertstream_build_info", "This worker's version.", ["version"], {(_version(),): 1}
        )
        yield from self._ingest(s)
        yield from self._alerts(s.runtime, now)
        yield _gauge(
            "alertstream_table_keys",
            "Keys per table partition open on this worker (RocksDB's estimate).",
            ["table", "partition"],
            {
                (store.table.name, str(p)): store.estimated_keys(p)
                for store in s.stores
                for p in store.open_partitions()
            },
        )
        yield _gauge(
            "alertstream_consumer_lag",
            "Records of an input partition this worker owns not handled yet.",
            ["topic", "partition"],
            {(tp.topic, str(tp.partition)): lag for tp, lag in _lags(s).items()},
        )
        yield _gauge(
            "alertstream_dlq_records",
            "Records on the dlq topic, per partition (all workers report the same).",
            ["partition"],
            {(str(p),): n for p, n in self.metrics.dlq_records.items()},
        )

    def _ingest(self, s: Sources) -> Iterator[Metric]:
        r = s.runtime.ingested
        yield _counter("alertstream_samples_received", "Samples accepted.", s.samples["samples"])
        yield _counter(
            "alertstream_samples_rejected", "Samples sent to dlq (invalid).", s.samples["rejected"]
        )
        yield _counter(
            "alertstream_rule_samples_matched",
            "Samples folded into a windowed rule's window (rule evaluations' input).",
            s.samples["matched"],
        )
        evaluations = CounterMetricFamily(
            "alertstream_rule_evaluations",
            "Rule evaluations by kind: windowed (a closed window of a series judged), "
            "anomaly (a point scored by a series' detector), event (an event fed to a rule).",
            labels=["kind"],
        )
        evaluations.add_metric(["windowed"], s.rules.judged)
        evaluations.add_metric(["anomaly"], s.anomaly.scored)
        evaluations.add_metric(["event"], s.event_rules.judged)
        yield evaluations
        yield _counter("alertstream_events_received", "Events accepted.", s.events.received)
        yield _counter("alertstream_events_rejected", "Events sent to dlq.", s.events.rejected)
        yield _counter(
            "alertstream_alerts_received",
            "Alerts read from the alerts topic (producers, the API and rules).",
            r.received,
        )
        yield _counter("alertmanager_alerts_invalid", "Alerts sent to dlq as invalid.", r.rejected)

    def _alerts(self, runtime: AlertRuntime, now: float) -> Iterator[Metric]:
        firing = suppressed = held = 0
        for alerts in runtime.alert_sets.values():
            held += len(alerts.alerts)
            for a in alerts.alerts.values():
                if a.status == FIRING:
                    firing += 1
                    suppressed += a.muted
        yield _gauge(
            "alertmanager_alerts",
            "Firing alerts by state: suppressed by a silence or inhibition at their "
            "group's last flush, else active.",
            ["state"],
            {("active",): firing - suppressed, ("suppressed",): suppressed, ("unprocessed",): 0},
        )
        yield _gauge(
            "alertstream_alerts",
            "Alerts held by this worker: firing, and resolved not yet notified.",
            ["state"],
            {("firing",): firing, ("resolved",): held - firing},
        )
        yield _gauge(
            "alertmanager_dispatcher_aggregation_groups",
            "Aggregation groups on this worker.",
            [],
            {(): len(runtime.dispatcher)},
        )
        states: Tally[str] = Tally({"active": 0, "pending": 0, "expired": 0})
        for silence in runtime.suppressor.silences.all():
            states[silence.state(now)] += 1
        yield _gauge(
            "alertmanager_silences",
            "Silences by state (every worker holds every silence).",
            ["state"],
            {(k,): v for k, v in states.items()},
        )


def _lags(s: Sources) -> dict[TP, int]:
    """Per guarded input partition owned here: the broker's end offset (as of the last
    fetch) minus the next offset its agent expects."""
    out: dict[TP, int] = {}
    consumer = s.app.consumer
    for tp in s.app.assignor.assigned_actives():
        expected = s.offsets.get(tp.partition, tp.topic)
        if expected is None:
            continue
        end = consumer.highwater(tp)
        if end is not None:
            out[tp] = max(0, end - expected)
    return out


class MetricsView(View):
    """Prometheus' scrape endpoint (READ on every tenant: the counts add up all of them;
    public when `access.public_metrics`)."""

    permissions = {"GET": READ}
    every_tenant = True
    metrics: PipelineMetrics

    async def get(self, request: Request) -> Response:
        # the text format every scraper and karma's probe read (the same bytes as 1.0.0
        # for our metric names)
        await self.metrics.refresh_dlq()
        return web.Response(
            body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4}
        )


def register(app: faust.App, metrics: PipelineMetrics) -> None:
    app.page("/metrics")(type("MetricsView", (MetricsView,), {"metrics": metrics}))
