"""The Faust application and its topics. It never imports agents; agents import it.

Every topic is declared with the same partition count so that tables co-partition
with the topics that feed them; values are raw bytes decoded once per record with
orjson (a record carries a batch).
"""

from __future__ import annotations

import faust

from app.settings import faust_credentials, settings
from channels import CHANNELS
from models.alerting.alert import Alert
from models.logs import json_logging_config
from models.tracing import headers_now
from models.wire import encode_chunks


def _bound_fetch_wait() -> None:
    """Faust 0.15 creates its worker consumer with fetch_max_wait_ms=1500, hard-coded. A
    broker that answers a long poll only when it times out (the embedded Tansu does) then
    adds up to 1.5 s at every hop. Every aiokafka consumer of this process gets at most
    ALERTSTREAM_FETCH_MAX_WAIT_MS instead; under load fetches return with data at once."""
    import aiokafka

    original = aiokafka.AIOKafkaConsumer
    if getattr(original, "_alertstream_bounded", False):
        return

    class BoundedWaitConsumer(original):  # type: ignore[misc, valid-type]
        _alertstream_bounded = True

        def __init__(self, *args: object, **kwargs: object) -> None:
            wait = int(kwargs.get("fetch_max_wait_ms", 500))  # type: ignore[call-overload]
            kwargs["fetch_max_wait_ms"] = min(wait, settings.fetch_max_wait_ms)
            super().__init__(*args, **kwargs)

    aiokafka.AIOKafkaConsumer = BoundedWaitConsumer  # type: ignore[misc]


_bound_fetch_wait()

app = faust.App(
    settings.app_id,
    broker=settings.broker,
    broker_credentials=faust_credentials(settings.broker_credentials, settings.broker_ca),
    store="rocksdb://",
    datadir=str(settings.data_dir),
    key_serializer="raw",
    value_serializer="raw",
    topic_partitions=settings.partitions,
    topic_disable_leader=True,
    broker_session_timeout=6,
    broker_heartbeat_interval=1,
    broker_max_poll_records=100,
    stream_buffer_maxsize=256,  # events are batches: 4096 of them can be gigabytes
    producer_linger=0.005,
    producer_max_batch_size=256 * 1024,
    producer_max_request_size=8 * 1024 * 1024,  # one notification may be large
    # a fetch must hold the largest record batch the C producers write (1 MB batches of
    # up to 4 MiB notifications): a consumer whose fetch size is below a batch's size
    # can stop at that batch on brokers that do not return an oversized first batch
    consumer_max_fetch_size=16 * 1024 * 1024,
    producer_compression_type="lz4",
    table_cleanup_interval=30,
    # Our tables write RocksDB first and the changelog second (tables/store.py), so the
    # local store is authoritative for this worker's own writes. After a kill -9 with
    # many changelog sends in flight, the offset Faust remembers can be ahead of what the
    # embedded broker reports (seen at 20K-100K alerts: 4999 > 4954), and the check would
    # refuse to start; without it, recovery reads the changelog from the remembered offset.
    recovery_consistency_check=False,
    web_host=settings.web_host,
    web_bind=settings.web_bind,
    web_port=settings.web_port,
    # how other workers reach this one (forwarded reads): https with --tls-cert
    canonical_url=("https" if settings.tls_cert else "http")
    + f"://{settings.web_host}:{settings.web_port}",
    web_in_thread=False,
    web_transport=f"tcp://{settings.web_bind}:{settings.web_port}",
    web_cors_options=None,
    web_tables_enabled=False,  # app/table_views.py serves /table with decoded values
    logging_config=json_logging_config() if settings.log_format == "json" else None,
)


def _topic(name: str, *, compacted: bool = False) -> faust.TopicT:
    return app.topic(
        settings.topic_prefix + name,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
        compacting=compacted or None,
    )


metrics_topic = _topic("metrics")
events_topic = _topic("events")
alerts_topic = _topic("alerts")
dlq_topic = _topic("dlq")
history_topic = _topic("history")
commands_topic = _topic("commands")
config_topic = _topic("config", compacted=True)  # tenant -> its config version (key: tenant)
incidents_topic = _topic("incidents")  # incident events (agents/incidents.py)
topology_topic = _topic("topology", compacted=True)  # tenant -> its service/device graph
tokens_topic = _topic("tokens", compacted=True)  # API token id -> its hash and roles
keys_topic = _topic("keys", compacted=True)  # wrapped data keys; tombstone = shredded
audit_requests_topic = _topic("audit.requests")  # actions to audit (agents/audit.py chains them)
audit_topic = _topic("audit")  # per tenant: hash-chained entries and signed checkpoints
audit_checkpoints_topic = _topic("audit.checkpoints", compacted=True)  # tenant -> last signed
receipts_topic = _topic("notifications.receipts")
notification_topics = {kind: _topic(f"notifications.{kind}") for kind in CHANNELS}
ALL_TOPICS = [
    metrics_topic,
    events_topic,
    alerts_topic,
    dlq_topic,
    history_topic,
    commands_topic,
    config_topic,
    incidents_topic,
    topology_topic,
    tokens_topic,
    keys_topic,
    audit_requests_topic,
    audit_topic,
    audit_checkpoints_topic,
    receipts_topic,
    *notification_topics.values(),
]


async def send_batch(topic: faust.TopicT, key: bytes | None, items: list) -> None:
    """Produce items as JSON-array records of bounded size (one record per ~512 KiB),
    carrying the current trace context when tracing is on (``models/tracing.py``)."""
    headers = headers_now() if settings.otlp_endpoint else None
    for chunk in encode_chunks(items):
        await topic.send(key=key, value=chunk, headers=headers)


def by_tenant(alerts: list[Alert]) -> dict[str, list[Alert]]:
    out: dict[str, list[Alert]] = {}
    for alert in alerts:
        out.setdefault(alert.tenant, []).append(alert)
    return out


async def send_alerts(topic: faust.TopicT, alerts: list[Alert]) -> None:
    """Alerts a worker made (rule alerts) to `alerts`, one batch per tenant, keyed by it."""
    for tenant, theirs in by_tenant(alerts).items():
        await send_batch(topic, tenant.encode(), [a.to_wire() for a in theirs])
