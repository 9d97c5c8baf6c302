"""The delivery loop, pure asyncio: one notification rendered, sent, retried or dead-lettered.

For one notification ``Deliverer.deliver`` renders it with its channel, then loops:
wait for the destination's circuit breaker (``channels.breaker``), take a token
from the destination's rate limit if it has one (``channels.rate_limit``), send
once, and act on the Outcome:

* delivered: done;
* give up (e.g. HTTP 400): a dead letter at once;
* retry: sleep ``retry_after`` when the peer gave one (429/503), else exponential
  backoff with full jitter (0.5 s, x2, capped at 60 s), until the notification's
  retry budget is spent, then a dead letter.  Never dropped.

Dead letters ``{"reason", "last_error", "http_status", "attempts", "kind",
"destination", "notification", "rendered", "dead_at"}`` keep the full rendered
request so ``replay`` can re-send it, which means they hold credentials (see
``channels.channel``).  Receipts and log lines carry only redacted destinations and
short error details.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from channels.breaker import CircuitBreaker, CircuitOpen
from channels.channel import Channel
from channels.outbound import OutboundSessions
from channels.outcome import DELIVERED, GIVE_UP, RETRY, Outcome
from channels.policy import DeliveryPolicy
from channels.rate_limit import TokenBucket
from channels.receipt import DEAD, FAILED, SKIPPED, Receipt
from channels.redaction import redact_text, redact_url
from channels.registry import CHANNELS
from models.notify.notification import Notification

log = logging.getLogger("alertstream.channels")

STATE_CAPACITY = 10_000

ReceiverLookup = Mapping[str, Any] | Callable[[str, str], Any]


@dataclass(slots=True)
class Delivery:
    """One notification on its way: the facts its receipt and dead letter report."""

    notification: Notification
    rendered: dict[str, Any] | None = None
    shown: str = ""  # the destination, redacted
    started: float | None = None
    attempts: int = 0
    last: Outcome = field(default_factory=lambda: Outcome.retry(None, "not attempted"))


class Deliverer:
    """Delivers notifications for a set of receivers.

    ``receivers``: a mapping receiver name -> ``app.config.receivers.Receiver``, or a
    callable ``(tenant, name) -> Receiver | None`` for per-tenant configs.
    ``session``: the shared aiohttp session handed to every channel, or, given
    ``sessions`` (``channels.outbound.OutboundSessions``), the session for a
    notification's tenant: receivers a tenant set go out through the session that
    checks destinations. ``close()`` closes what ``sessions`` opened.
    """

    def __init__(
        self,
        receivers: ReceiverLookup,
        session: aiohttp.ClientSession,
        policy: DeliveryPolicy | None = None,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        sessions: OutboundSessions | None = None,
    ) -> None:
        self.receivers = receivers
        self.session = session
        self.sessions = sessions
        self.policy = policy or DeliveryPolicy()
        self.rng = rng or random.Random()
        self.clock = clock
        self.breakers: dict[str, CircuitBreaker] = {}
        self.buckets: dict[tuple, TokenBucket] = {}
        self.states: OrderedDict[tuple, dict[str, Any]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<Deliverer breakers={len(self.breakers)} buckets={len(self.buckets)}>"

    async def close(self) -> None:
        if self.sessions is not None:
            await self.sessions.close()

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

    def channel(self, kind: str, config: Any, tenant: str) -> Channel:
        session = self.session if self.sessions is None else self.sessions.for_tenant(tenant)
        return CHANNELS[kind](config, session)

    def breaker(self, destination: str) -> CircuitBreaker:
        b = self.breakers.get(destination)
        if b is None:
            b = self.breakers[destination] = CircuitBreaker(self.policy.breaker, self.clock)
        return b

    def bucket(
        self, n: Notification, channel: Channel, rendered: dict[str, Any]
    ) -> TokenBucket | None:
        """The token bucket of this destination under its limit; None when unlimited."""
        scope, provider = channel.rate_scope(rendered)
        limit = self.policy.limit_for(channel.kind, n.tenant, n.receiver, provider)
        if limit.unlimited:
            return None
        key = (channel.kind, scope, limit)
        b = self.buckets.get(key)
        if b is None:
            b = self.buckets[key] = TokenBucket(limit, self.clock)
        return b

    def _state_key(self, n: Notification) -> tuple:
        return (n.tenant, n.receiver, n.channel, n.integration, n.group_key)

    # -- delivery --------------------------------------------------------------
    async def deliver(self, notification: Notification) -> Receipt:
        n = notification
        config = self.config_for(n)
        if config is None:
            missing = f"no {n.channel} integration #{n.integration} in receiver {n.receiver!r}"
            return self._dead(Delivery(n), "no_config", missing)
        if not config.send_resolved:
            firing = n.firing()
            if not firing:
                return self._receipt(Delivery(n), SKIPPED)
            if len(firing) != len(n.alerts):
                n = dataclasses.replace(n, alerts=firing)
        state = self.states.get(self._state_key(n))
        if state is not None and "channel_state" not in n.extra:
            n = dataclasses.replace(n, extra={**n.extra, "channel_state": state})
        channel = self.channel(n.channel, config, n.tenant)
        try:
            rendered = channel.render(n)
        except Exception as exc:
            log.warning("render failed for %s/%s id=%s: %s", n.receiver, n.channel, n.id, exc)
            return self._dead(Delivery(n), "render_error", f"{type(exc).__name__}: {exc}")
        return await self._run(n, channel, rendered)

    async def replay(self, dead_letter: Mapping[str, Any]) -> Receipt:
        """Re-send a dead letter's stored request (re-rendered if it never rendered)."""
        n = Notification.from_wire(dict(dead_letter["notification"]))
        rendered = dead_letter.get("rendered")
        kind = dead_letter.get("kind") or n.channel
        if rendered is None:
            return await self.deliver(n)
        if kind not in CHANNELS:
            return self._dead(Delivery(n, rendered), "no_config", f"unknown channel {kind!r}")
        channel = self.channel(kind, self.config_for(n), n.tenant)
        return await self._run(n, channel, dict(rendered))

    async def _run(self, n: Notification, channel: Channel, rendered: dict[str, Any]) -> Receipt:
        retry = self.policy.retry
        destination = channel.destination(rendered)
        shown = redact_url(destination) if "://" in destination else destination
        d = Delivery(n, rendered, shown, started=self.clock())
        deadline = d.started + retry.budget
        breaker = self.breaker(destination)
        bucket = self.bucket(n, channel, rendered)
        while True:
            try:
                await breaker.acquire(deadline)
            except CircuitOpen as exc:
                return self._dead(d, "circuit_open", str(exc), status=FAILED)
            if bucket is not None:
                await bucket.take()
            d.attempts += 1
            try:
                d.last = await channel.send(rendered)
            except Exception as exc:
                d.last = Outcome.retry(None, f"{type(exc).__name__}: {exc}")
            breaker.record(failure=d.last.kind == RETRY and not d.last.throttled)
            if d.last.ok:
                return self._delivered(d)
            if d.last.kind == GIVE_UP:
                return self._dead(d, "rejected", d.last.detail)
            if retry.max_attempts and d.attempts >= retry.max_attempts:
                return self._dead(d, "max_attempts", d.last.detail, status=FAILED)
            delay = d.last.retry_after
            if delay is None:
                delay = retry.backoff(d.attempts, self.rng)
            if self.clock() + delay > deadline:
                return self._dead(d, "retry_budget_exhausted", d.last.detail, status=FAILED)
            log.info(
                "retrying %s to %s in %.2fs (attempt %d): %s",
                n.channel,
                shown,
                delay,
                d.attempts,
                redact_text(d.last.detail),
            )
            await asyncio.sleep(delay)

    # -- verdicts --------------------------------------------------------------
    def _receipt(self, d: Delivery, status: str, error: str = "") -> Receipt:
        n = d.notification
        return Receipt(
            channel=n.channel,
            receiver=n.receiver,
            tenant=n.tenant,
            notification_id=n.id,
            integration=n.integration,
            status=status,
            latency=0.0 if d.started is None else self.clock() - d.started,
            attempts=d.attempts,
            last_error=redact_text(error),
            http_status=d.last.status,
            destination=d.shown,
        )

    def _delivered(self, d: Delivery) -> Receipt:
        n, out = d.notification, d.last
        receipt = self._receipt(d, DELIVERED)
        key = self._state_key(n)
        if n.status == "resolved":
            self.states.pop(key, None)
        elif out.state:
            self.states[key] = out.state
            self.states.move_to_end(key)
            while len(self.states) > STATE_CAPACITY:
                self.states.popitem(last=False)
        receipt.state = out.state
        log.debug("delivered %s to %s id=%s attempts=%d", n.channel, d.shown, n.id, d.attempts)
        return receipt

    def _dead(self, d: Delivery, reason: str, error: str, *, status: str = DEAD) -> Receipt:
        """A dead letter: ``failed`` when retries ran out, ``dead`` when refused for good."""
        n = d.notification
        receipt = self._receipt(d, status, error)
        receipt.dead_letter = {
            "reason": reason,
            "last_error": receipt.last_error,
            "http_status": receipt.http_status,
            "attempts": d.attempts,
            "kind": n.channel,
            "destination": d.shown,
            "notification": n.to_wire(),
            "rendered": d.rendered,
            "dead_at": time.time(),
        }
        log.warning(
            "dead letter (%s) for %s/%s id=%s to %s after %d attempts: %s",
            reason,
            n.receiver,
            n.channel,
            n.id,
            d.shown,
            d.attempts,
            receipt.last_error,
        )
        return receipt
