"""The Deliverer built from the validated pipelines file.

The one construction the worker's channel senders and ``alertstream dlq replay`` share,
so a replayed dead letter is retried, rate-limited and circuit-broken under the same
``delivery:`` policy as the notification it came from.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from app.config.schema import PipelinesConfig
from channels.delivery import Deliverer, ReceiverLookup
from channels.outbound import OutboundSessions


def build_deliverer(
    config: PipelinesConfig,
    session: aiohttp.ClientSession,
    receivers: ReceiverLookup | None = None,
    set_by_tenant: Callable[[str], bool] | None = None,
) -> Deliverer:
    """A Deliverer for the config's receivers (or ``receivers``: a lookup by tenant and
    name, for per-tenant configs) under its `delivery:` policy, sending through
    ``session`` (which belongs to the running loop: build it inside that loop;
    ``close()`` the Deliverer when done with it).

    ``set_by_tenant(tenant)``: whether the tenant's receivers are its own (set through
    the API); their destinations are checked against ``outbound:``, and so are every
    tenant's with ``outbound.check_operator_receivers``."""
    lookup = receivers if receivers is not None else {r.name: r for r in config.receivers}
    outbound = config.outbound

    def checked(tenant: str) -> bool:
        own = set_by_tenant is not None and set_by_tenant(tenant)
        return outbound.check_operator_receivers or own

    sessions = OutboundSessions(session, outbound.policy(), checked)
    return Deliverer(lookup, session, config.delivery.policy(), sessions=sessions)
