"""How hard delivery tries: retry backoff and budget, breaker and rate limit settings.

Built from ``delivery:`` in pipelines.yaml (``app.config.schema.DeliveryConfig``).
Rate limits resolve most specific first: a receiver's own (``tenant/name`` or
``name``), then one for the channel kind, then the limit the provider documents
for that destination (``Channel.rate_scope``), then ``rate_limit`` for everything
else, which is unlimited unless configured, as in Alertmanager.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from channels.breaker import BreakerPolicy
from channels.rate_limit import UNLIMITED, RateLimit


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial: float = 0.5
    factor: float = 2.0
    max_delay: float = 60.0
    budget: float = 300.0  # seconds per notification, from the first attempt
    max_attempts: int = 0  # 0 = only the budget limits

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform(0, min(cap, initial * factor ** (attempt - 1)))."""
        ceiling = min(self.max_delay, self.initial * self.factor ** max(0, attempt - 1))
        return rng.uniform(0, ceiling)


@dataclass(frozen=True)
class DeliveryPolicy:
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    rate_limit: RateLimit = UNLIMITED  # destinations without a documented provider limit
    # per receiver name (or "tenant/receiver"), and per channel kind ("slack")
    receiver_rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    channel_rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)

    def limit_for(self, kind: str, tenant: str, receiver: str, provider: RateLimit) -> RateLimit:
        """The limit for one destination of one receiver's ``kind`` integration."""
        by_receiver = self.receiver_rate_limits
        for found in (
            by_receiver.get(f"{tenant}/{receiver}"),
            by_receiver.get(receiver),
            self.channel_rate_limits.get(kind),
        ):
            if found is not None:
                return found
        return self.rate_limit if provider.unlimited else provider
