"""Outbound rate limits: a token bucket per (channel kind, destination).

Alertmanager sends as fast as its peers answer; so do we, unless a provider
documents a limit for a destination (Slack: about one message per second per
channel; PagerDuty Events API v2: about 120 events per minute per routing key;
SMS senders: a message or less per second per number).  Each channel states that
limit and what it applies to (``Channel.rate_scope``); ``delivery:`` in the config
can override it per channel kind or per receiver.  Waiting here is cheaper than a
429: a refused message costs a retry and, at Slack, risks the app being disabled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    rate: float = 0.0  # notifications per second; 0 = unlimited
    burst: float = 1.0  # sent at once before the rate applies

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0


UNLIMITED = RateLimit()


class TokenBucket:
    """Waiters take tokens in arrival order (they queue on one lock)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic):
        self.rate = limit.rate
        self.burst = max(1.0, limit.burst)
        self.tokens = self.burst
        self.clock = clock
        self.stamp = clock()
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<TokenBucket {self.rate}/s burst={self.burst}>"

    async def take(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            while (wait := self.try_take()) > 0:
                await asyncio.sleep(wait)

    def try_take(self) -> float:
        """Take a token if there is one (0.0), else the seconds until there will be one
        (nothing taken): for callers that refuse rather than wait (HTTP 429)."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def idle(self) -> bool:
        """Whether the bucket is full again: forgetting it changes nothing."""
        return self.rate <= 0 or self.tokens + (self.clock() - self.stamp) * self.rate >= self.burst
