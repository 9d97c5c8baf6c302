"""A circuit breaker per destination: stop hammering a peer that is down.

It opens after ``threshold`` consecutive failures (connection errors, 5xx; not
429, not other 4xx) and half-opens after ``cooldown``, letting one probe through;
a success closes it.  While it is open, notifications for that destination wait
within their retry budget; other destinations are not slowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("alertstream.channels")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    threshold: int = 5  # consecutive failures that open the breaker
    cooldown: float = 30.0  # seconds open before one probe is let through


class CircuitOpen(Exception):
    """The destination's breaker stays open past the notification's deadline."""


class CircuitBreaker:
    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic):
        self.policy = policy
        self.clock = clock
        self.state = self.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self._probing = False
        self._changed = asyncio.Event()

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.state} failures={self.failures}>"

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait until the state changes; False if ``timeout`` passed first."""
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout=max(0.0, timeout))
            return True
        return False

    async def acquire(self, deadline: float) -> None:
        """Return when a request may go; raise CircuitOpen if not before ``deadline``."""
        while True:
            if self.state == self.CLOSED:
                return
            now = self.clock()
            reopen_at = self.opened_at + self.policy.cooldown
            if self.state == self.OPEN and now >= reopen_at:
                self.state = self.HALF_OPEN
            if self.state == self.HALF_OPEN and not self._probing:
                self._probing = True
                return
            until = reopen_at if self.state == self.OPEN else deadline
            if until > deadline or now >= deadline:
                raise CircuitOpen(f"circuit open after {self.failures} consecutive failures")
            await self.wait_for_change(until - now)

    def record(self, failure: bool) -> None:
        self._probing = False
        if not failure:
            if self.state != self.CLOSED or self.failures:
                self.state, self.failures = self.CLOSED, 0
                self._notify()
            return
        self.failures += 1
        if self.state == self.HALF_OPEN or self.failures >= self.policy.threshold:
            if self.state != self.OPEN:
                log.warning("circuit opened after %d consecutive failures", self.failures)
            self.state, self.opened_at = self.OPEN, self.clock()
            self._notify()
