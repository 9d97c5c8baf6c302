"""The Deliverer built from the validated pipelines file.

The one construction the worker's channel senders and ``alertstream dlq replay`` share,
so a replayed dead letter is retried, rate-limited and circuit-broken under the same
``delivery:`` policy as the notification it came from.
"""

from __future__ import annotations

import aiohttp

from app.config.schema import PipelinesConfig
from channels.delivery import Deliverer, ReceiverLookup


def build_deliverer(
    config: PipelinesConfig,
    session: aiohttp.ClientSession,
    receivers: ReceiverLookup | None = None,
) -> Deliverer:
    """A Deliverer for the config's receivers (or ``receivers``: a lookup by tenant and
    name, for per-tenant configs) under its `delivery:` policy, sending through
    ``session`` (which belongs to the running loop: build it inside that loop)."""
    lookup = receivers if receivers is not None else {r.name: r for r in config.receivers}
    return Deliverer(lookup, session, config.delivery.policy())
