"""The delivery policy, pure asyncio: retries, rate limits, circuit breakers, dead letters.

For one notification ``Deliverer.deliver`` renders it with its channel, then loops:
wait for the destination's circuit breaker, take a token from the receiver's
bucket, send once, and act on the Outcome:

* delivered: done;
* give up (e.g. HTTP 400): a dead letter at once;
* retry: sleep ``retry_after`` when the peer gave one (429/503), else exponential
  backoff with full jitter (0.5 s, x2, capped at 60 s), until the notification's
  retry budget is spent, then a dead letter.

A circuit breaker per destination (URL scheme+host, SMTP smarthost, SNS topic)
opens after ``threshold`` consecutive failures (connection errors, 5xx; not 429,
not 4xx) and half-opens after ``cooldown``, letting one probe through.  While it is
open, notifications for that destination wait (within their budget) and are
otherwise dead-lettered: never dropped; other destinations are not slowed.

Dead letters ``{"reason", "last_error", "http_status", "attempts", "kind",
"destination", "notification", "rendered", "dead_at"}`` keep the full rendered
request so ``replay`` can re-send it, which means they hold credentials (see
``channels.base``).  Receipts and log lines carry only redacted destinations and
short error details.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# Import every channel module so CHANNELS is complete even when this package is
# imported as a namespace (a tests/channels directory on sys.path can shadow it).
from channels import email, msteams, pagerduty, slack, sns, twilio, webhook  # noqa: F401
from channels.base import CHANNELS, GIVE_UP, Channel, Outcome, redact_text, redact_url
from models.notify.notification import Notification

log = logging.getLogger("alertstream.channels")

DELIVERED = "delivered"
FAILED = "failed"  # transient errors until the retry budget ran out: dead-lettered
DEAD = "dead"  # the peer refused it for good (or it could not be rendered): dead-lettered
SKIPPED = "skipped"  # all alerts resolved and the integration has send_resolved: false

STATE_CAPACITY = 10_000


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


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    threshold: int = 5  # consecutive failures that open the breaker
    cooldown: float = 30.0  # seconds open before one probe is let through


@dataclass(frozen=True, slots=True)
class RateLimit:
    rate: float = 10.0  # notifications per second; 0 = unlimited
    burst: float = 10.0


@dataclass(frozen=True)
class DeliveryPolicy:
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    rate_limit: RateLimit = RateLimit()
    # per receiver name (or "tenant/receiver") overrides of rate_limit
    receiver_rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)


@dataclass(slots=True)
class Receipt:
    channel: str
    receiver: str
    tenant: str
    notification_id: str
    integration: int
    status: str  # delivered | failed | dead | skipped
    latency: float  # seconds from the first attempt to the verdict
    attempts: int
    last_error: str = ""
    http_status: int | None = None
    destination: str = ""  # redacted (scheme://host/<redacted>)
    state: dict[str, Any] | None = None  # channel state to keep for the group (Slack ts)
    dead_letter: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status in (DELIVERED, SKIPPED)

    def to_wire(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("dead_letter")
        return out


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
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=max(0.0, until - now))

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


class TokenBucket:
    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic):
        self.rate = limit.rate
        self.burst = max(1.0, limit.burst)
        self.tokens = self.burst
        self.clock = clock
        self.stamp = clock()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:  # FIFO: waiters queue on the lock
            while True:
                now = self.clock()
                self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


ReceiverLookup = Mapping[str, Any] | Callable[[str, str], Any]


class Deliverer:
    """Delivers notifications for a set of receivers.

    ``receivers``: a mapping receiver name -> ``app.config.receivers.Receiver``, or a
    callable ``(tenant, name) -> Receiver | None`` for per-tenant configs.
    ``session``: the shared aiohttp session handed to every channel.
    """

    def __init__(
        self,
        receivers: ReceiverLookup,
        session: aiohttp.ClientSession,
        policy: DeliveryPolicy | None = None,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.receivers = receivers
        self.session = session
        self.policy = policy or DeliveryPolicy()
        self.rng = rng or random.Random()
        self.clock = clock
        self.breakers: dict[str, CircuitBreaker] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self.states: OrderedDict[tuple, dict[str, Any]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<Deliverer breakers={len(self.breakers)} buckets={len(self.buckets)}>"

    # -- lookups ---------------------------------------------------------------
    def receiver(self, tenant: str, name: str) -> Any:
        if callable(self.receivers):
            return self.receivers(tenant, name)
        return self.receivers.get(name)

    def config_for(self, notification: Notification) -> Any:
        cls = CHANNELS.get(notification.channel)
        receiver = self.receiver(notification.tenant, notification.receiver)
        if cls is None or receiver is None:
            return None
        configs = getattr(receiver, cls.config_key, None) or []
        if not 0 <= notification.integration < len(configs):
            return None
        return configs[notification.integration]

    def channel(self, kind: str, config: Any) -> Channel:
        return CHANNELS[kind](config, self.session)

    def breaker(self, destination: str) -> CircuitBreaker:
        b = self.breakers.get(destination)
        if b is None:
            b = self.breakers[destination] = CircuitBreaker(self.policy.breaker, self.clock)
        return b

    def bucket(self, tenant: str, receiver: str) -> TokenBucket:
        key = f"{tenant}/{receiver}"
        b = self.buckets.get(key)
        if b is None:
            limits = self.policy.receiver_rate_limits
            limit = limits.get(key) or limits.get(receiver) or self.policy.rate_limit
            b = self.buckets[key] = TokenBucket(limit, self.clock)
        return b

    def _state_key(self, n: Notification) -> tuple:
        return (n.tenant, n.receiver, n.channel, n.integration, n.group_key)

    # -- delivery --------------------------------------------------------------
    async def deliver(self, notification: Notification) -> Receipt:
        n = notification
        config = self.config_for(n)
        if config is None:
            return self._dead(
                n,
                None,
                "no_config",
                f"no {n.channel} integration #{n.integration} in receiver {n.receiver!r}",
                0,
                0.0,
                None,
                "",
            )
        if not config.send_resolved:
            firing = n.firing()
            if not firing:
                return self._receipt(n, SKIPPED, 0.0, 0, "", None, "")
            if len(firing) != len(n.alerts):
                n = dataclasses.replace(n, alerts=firing)
        state = self.states.get(self._state_key(n))
        if state is not None and "channel_state" not in n.extra:
            n = dataclasses.replace(n, extra={**n.extra, "channel_state": state})
        channel = self.channel(n.channel, config)
        try:
            rendered = channel.render(n)
        except Exception as exc:
            log.warning("render failed for %s/%s id=%s: %s", n.receiver, n.channel, n.id, exc)
            return self._dead(
                n, None, "render_error", f"{type(exc).__name__}: {exc}", 0, 0.0, None, ""
            )
        return await self._run(n, channel, rendered)

    async def replay(self, dead_letter: Mapping[str, Any]) -> Receipt:
        """Re-send a dead letter's stored request (re-rendered if it never rendered)."""
        n = Notification.from_wire(dict(dead_letter["notification"]))
        rendered = dead_letter.get("rendered")
        kind = dead_letter.get("kind") or n.channel
        if rendered is None:
            return await self.deliver(n)
        if kind not in CHANNELS:
            return self._dead(
                n, rendered, "no_config", f"unknown channel {kind!r}", 0, 0.0, None, ""
            )
        channel = self.channel(kind, self.config_for(n))
        return await self._run(n, channel, dict(rendered))

    async def _run(self, n: Notification, channel: Channel, rendered: dict[str, Any]) -> Receipt:
        retry = self.policy.retry
        destination = channel.destination(rendered)
        shown = redact_url(destination) if "://" in destination else destination
        breaker = self.breaker(destination)
        bucket = self.bucket(n.tenant, n.receiver)
        start = self.clock()
        deadline = start + retry.budget
        attempts, last = 0, Outcome.retry(None, "not attempted")
        while True:
            try:
                await breaker.acquire(deadline)
            except CircuitOpen as exc:
                return self._failed(
                    n, rendered, "circuit_open", str(exc), attempts, start, last, shown
                )
            await bucket.take()
            attempts += 1
            try:
                last = await channel.send(rendered)
            except Exception as exc:
                last = Outcome.retry(None, f"{type(exc).__name__}: {exc}")
            breaker.record(failure=last.kind == "retry" and not last.throttled)
            if last.ok:
                return self._delivered(n, attempts, start, last, shown)
            if last.kind == GIVE_UP:
                return self._dead(
                    n,
                    rendered,
                    "rejected",
                    last.detail,
                    attempts,
                    self.clock() - start,
                    last.status,
                    shown,
                )
            if retry.max_attempts and attempts >= retry.max_attempts:
                return self._failed(
                    n, rendered, "max_attempts", last.detail, attempts, start, last, shown
                )
            delay = (
                last.retry_after
                if last.retry_after is not None
                else retry.backoff(attempts, self.rng)
            )
            if self.clock() + delay > deadline:
                return self._failed(
                    n, rendered, "retry_budget_exhausted", last.detail, attempts, start, last, shown
                )
            log.info(
                "retrying %s to %s in %.2fs (attempt %d): %s",
                n.channel,
                shown,
                delay,
                attempts,
                redact_text(last.detail),
            )
            await asyncio.sleep(delay)

    # -- verdicts --------------------------------------------------------------
    def _receipt(self, n, status, latency, attempts, error, http_status, dest) -> Receipt:
        return Receipt(
            channel=n.channel,
            receiver=n.receiver,
            tenant=n.tenant,
            notification_id=n.id,
            integration=n.integration,
            status=status,
            latency=latency,
            attempts=attempts,
            last_error=redact_text(error),
            http_status=http_status,
            destination=dest,
        )

    def _delivered(
        self, n: Notification, attempts: int, start: float, out: Outcome, dest: str
    ) -> Receipt:
        receipt = self._receipt(n, DELIVERED, self.clock() - start, attempts, "", out.status, dest)
        key = self._state_key(n)
        if n.status == "resolved":
            self.states.pop(key, None)
        elif out.state:
            self.states[key] = out.state
            self.states.move_to_end(key)
            while len(self.states) > STATE_CAPACITY:
                self.states.popitem(last=False)
        receipt.state = out.state
        log.debug("delivered %s to %s id=%s attempts=%d", n.channel, dest, n.id, attempts)
        return receipt

    def _failed(self, n, rendered, reason, error, attempts, start, last: Outcome, dest) -> Receipt:
        receipt = self._dead(
            n, rendered, reason, error, attempts, self.clock() - start, last.status, dest
        )
        receipt.status = FAILED
        return receipt

    def _dead(self, n, rendered, reason, error, attempts, latency, http_status, dest) -> Receipt:
        receipt = self._receipt(n, DEAD, latency, attempts, error, http_status, dest)
        receipt.dead_letter = {
            "reason": reason,
            "last_error": receipt.last_error,
            "http_status": http_status,
            "attempts": attempts,
            "kind": n.channel,
            "destination": dest,
            "notification": n.to_wire(),
            "rendered": rendered,
            "dead_at": time.time(),
        }
        log.warning(
            "dead letter (%s) for %s/%s id=%s to %s after %d attempts: %s",
            reason,
            n.receiver,
            n.channel,
            n.id,
            dest,
            attempts,
            receipt.last_error,
        )
        return receipt
