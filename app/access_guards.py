"""The access chain's guards around authentication (``app/access.py: build_chain``):
the client's address behind trusted proxies, IP allow/deny lists (global and per
credential), MFA for the roles that require it, request rate limits, and the
failed authentications per address.

Each is a step: ``async def check(request, ctx) -> Response | None``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from ipaddress import ip_address
from typing import TYPE_CHECKING

from aiohttp import web

from app.web import refuse
from channels import rate_limit
from models.access.failures import FailureWindow
from models.access.ip_filter import Address, IpFilter, Networks, client_address
from models.access.mfa import MfaPolicy
from models.access.permissions import PUBLIC

if TYPE_CHECKING:
    from app.access import Access

STEP_UP = 'Bearer error="insufficient_user_authentication", error_description="MFA required"'


class ForwardedClient:
    """The client behind our own reverse proxies: ``X-Forwarded-For``, read from the
    right, only when the TCP peer is one of ``trusted`` (else the header is ignored)."""

    def __init__(self, trusted: Networks) -> None:
        self.trusted = trusted

    async def check(self, request: web.Request, ctx: Access) -> web.Response | None:
        if not self.trusted or not ctx.client:
            return None
        try:
            forwarded = request.headers.getall("X-Forwarded-For", [])
            ctx.client = str(client_address(ctx.client, forwarded, self.trusted))
        except ValueError:
            return refuse(400, "X-Forwarded-For: a hop our proxies passed on is no address")
        return None


def _address(client: str) -> Address | None:
    try:
        return ip_address(client.split("%", 1)[0])
    except ValueError:  # a unix socket peer has no address
        return None


class IpAllowed:
    """The global allow/deny lists (``access.ip_filter``)."""

    def __init__(self, ip_filter: IpFilter) -> None:
        self.filter = ip_filter

    async def check(self, request: web.Request, ctx: Access) -> web.Response | None:
        address = _address(ctx.client)
        if self.filter and (address is None or not self.filter.permits(address)):
            return refuse(403, f"client address {ctx.client or '?'} is not allowed")
        return None


class CredentialNetworks:
    """A credential restricted to some networks (``allow_from`` on a token or user)
    is refused from anywhere else, even with the right secret."""

    def __init__(self) -> None:
        self.parsed: dict[tuple[str, ...], Networks] = {}

    async def check(self, request: web.Request, ctx: Access) -> web.Response | None:
        principal = ctx.principal
        if principal is None or not principal.allow_from:
            return None
        networks = self.parsed.get(principal.allow_from)
        if networks is None:
            networks = self.parsed[principal.allow_from] = Networks(principal.allow_from)
        address = _address(ctx.client)
        if address is None or address not in networks:
            return refuse(403, f"{principal.id} may not be used from {ctx.client or '?'}")
        return None


class RequireMfa:
    """A caller acting with a role that requires MFA must have shown a second factor
    (RFC 9470's step-up answer: 401 ``insufficient_user_authentication``)."""

    def __init__(self, policy: MfaPolicy) -> None:
        self.policy = policy

    async def check(self, request: web.Request, ctx: Access) -> web.Response | None:
        if ctx.principal is None:
            return None
        role = self.policy.missing(ctx.principal, ctx.tenant)
        if role is None:
            return None
        return refuse(
            401,
            f"role {role} requires a second factor: log in with a TOTP code "
            "(POST /api/v1/login) or use an OIDC token whose amr/acr shows one",
            **{"WWW-Authenticate": STEP_UP},
        )


class RequestLimiter:
    """One token bucket per key (a credential, a tenant, an address), made on first use;
    buckets that have filled up again are forgotten when there are many."""

    def __init__(
        self,
        limit: rate_limit.RateLimit,
        clock: Callable[[], float] = time.monotonic,
        keep: int = 10_000,
    ) -> None:
        self.limit = limit
        self.clock = clock
        self.keep = keep
        self.buckets: dict[str, rate_limit.TokenBucket] = {}

    def wait(self, key: str) -> float:
        """0.0 if ``key`` may make a request now (and it is counted), else the seconds
        until it may."""
        if self.limit.unlimited:
            return 0.0
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.keep:
                self.buckets = {k: b for k, b in self.buckets.items() if not b.idle()}
            bucket = self.buckets[key] = rate_limit.TokenBucket(self.limit, self.clock)
        return bucket.try_take()


def too_many(wait: float, what: str) -> web.Response:
    return refuse(429, f"rate limit of {what} exceeded", **{"Retry-After": str(math.ceil(wait))})


class AddressRateLimit:
    """Requests per client address, before authentication: guessing passwords or
    tokens costs the guesser time too."""

    def __init__(self, limiter: RequestLimiter) -> None:
        self.limiter = limiter

    async def check(self, request: web.Request, ctx: Access) -> web.Response | None:
        wait = self.limiter.wait(ctx.client)
        return too_many(wait, f"address {ctx.client}") if wait else None


class RateLimit:
    """Requests per credential and per tenant, once both are known (after authorize)."""

    def __init__(self, credential: RequestLimiter, tenant: RequestLimiter) -> None:
        self.credential = credential
        self.tenant = tenant

    async def check(self, request: web.Request, ctx: Access) -> web.Response | None:
        if ctx.tenant is not None:
            wait = self.tenant.wait(ctx.tenant)
            if wait:
                return too_many(wait, f"tenant {ctx.tenant}")
        if ctx.principal is not None:
            wait = self.credential.wait(ctx.principal.id)
            if wait:
                return too_many(wait, ctx.principal.id)
        return None


class FailedAuthLimit:
    """An address that presented too many refused credentials lately
    (``access.rate_limits.failed_auth``) gets 429 until the oldest failure leaves the
    window, whatever it sends: checking a right credential would tell a guesser it is
    right. The public pages read without one (/healthz, signed links) still answer.
    ``Authenticate`` and the middleware (for a public view's own 401) count failures."""

    def __init__(self, window: FailureWindow, clock: Callable[[], float] = time.monotonic):
        self.window = window
        self.clock = clock

    def failed(self, client: str) -> None:
        self.window.failed(client, self.clock())

    async def check(self, request: web.Request, ctx: Access) -> web.Response | None:
        if ctx.need.permission is PUBLIC and request.method in ("GET", "HEAD"):
            return None
        wait = self.window.wait(ctx.client, self.clock())
        return too_many(wait, f"failed authentications from {ctx.client}") if wait else None
