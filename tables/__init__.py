"""The pipeline's durable state: RocksDB-backed, changelogged Faust tables.

Each is partitioned like the topics (by tenant), so the worker that owns a tenant's
partition owns its state.  Writes are staged and committed per batch, and the changelog
is acknowledged before Faust commits input offsets (``tables/store.py``).  The hot state
lives in memory in the objects that own it (``agents/runtime.py``), not here.
"""

from app.faust_app import app
from app.settings import settings
from tables.keys import worker_protection
from tables.store import Checkpoint, CheckpointSensor, PartitionStore

checkpoint = Checkpoint(settings)
protection = worker_protection(settings)  # seals dead letters, receipts, audit entries
app.sensors.add(CheckpointSensor(checkpoint))

alerts = PartitionStore(
    app, checkpoint, "alerts", help="fingerprint -> the alert (labels, annotations, status, times)"
)
groups = PartitionStore(
    app, checkpoint, "groups", help="tenant/route/group key -> aggregation group and its timer"
)
nflog = PartitionStore(
    app,
    checkpoint,
    "nflog",
    help="group key/receiver -> what was last notified (dedup across restarts)",
)
history = PartitionStore(
    app,
    checkpoint,
    "history",
    help="fingerprint -> the alert's last state changes and notifications",
)
rule_state = PartitionStore(
    app,
    checkpoint,
    "rule_state",
    help="tenant/rule/series -> pending/firing state of threshold rules",
)
offsets = PartitionStore(
    app,
    checkpoint,
    "offsets",
    help="input topic -> the next offset its agent expects (catches records skipped)",
)
delivered = PartitionStore(
    app,
    checkpoint,
    "delivered",
    help="notification id -> when it was delivered (no resend after a crash)",
)
silences = PartitionStore(
    app,
    checkpoint,
    "silences",
    help="silence id -> the silence (compact form); every worker tails its changelog",
)
event_state = PartitionStore(
    app,
    checkpoint,
    "event_state",
    help="tenant/rule/key -> window, sequence or absence state of an event rule",
)
incidents = PartitionStore(
    app,
    checkpoint,
    "incidents",
    help="incident headers, members, tenants' topologies and learners (agents/incidents.py)",
)
series_models = PartitionStore(
    app,
    checkpoint,
    "series_models",
    help="tenant/rule/series -> learned model (anomaly detector, auto band, forecaster)",
)
escalations = PartitionStore(
    app,
    checkpoint,
    "escalations",
    help="chain/tenant/group key -> escalation chain, its next due step and audit; rr/... cursors",
)
audit_chains = PartitionStore(
    app,
    checkpoint,
    "audit_chains",
    help="chain/tenant -> audit chain seq, last hash, Merkle frontier; position -> what it covers",
)
analytics = PartitionStore(
    app,
    checkpoint,
    "analytics",
    help="hour/day windows, alert episodes and input offsets of analytics (agents/analytics.py)",
)
subjects = PartitionStore(
    app,
    checkpoint,
    "subjects",
    help="pseudonym -> tenant, label and the value sealed under the subject's key (GDPR)",
)
