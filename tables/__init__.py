"""The pipeline's state: RocksDB-backed, changelogged Faust tables.

Each is partitioned like the topics (by tenant), so the worker that owns a tenant's
partition owns its state; hot state is kept in memory in front of them and written
only on state transitions, coalesced per batch.
"""

from app.faust_app import app
from tables.store import PartitionStore

alerts = PartitionStore(
    app, "alerts", help="fingerprint -> the alert (labels, annotations, status, times)"
)
groups = PartitionStore(
    app, "groups", help="tenant/group key -> aggregation group: route, members, timers"
)
nflog = PartitionStore(
    app, "nflog", help="group key/receiver -> what was last notified (dedup across restarts)"
)
rule_state = PartitionStore(
    app, "rule_state", help="tenant/rule/series -> pending/firing state of threshold rules"
)

# The hot in-memory state in front of the tables, shared by agents and the HTTP API.
from collections import defaultdict  # noqa: E402

from models.alerting.lifecycle import AlertSet  # noqa: E402

active_alerts: defaultdict[int, AlertSet] = defaultdict(AlertSet)
"""partition -> the alerts of that partition (firing, and resolved until notified)."""

delivered = PartitionStore(
    app, "delivered", help="notification id -> when it was delivered (no resend after a crash)"
)

silences = PartitionStore(
    app,
    "silences",
    help="silence id -> the silence (compact form); every worker tails its changelog",
)
history = PartitionStore(
    app, "history", help="fingerprint -> the alert's last state changes and notifications"
)

series_models = PartitionStore(
    app,
    "series_models",
    help="tenant/rule/series -> learned model (anomaly detector, auto band, forecaster)",
)
