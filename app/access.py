"""Access control for every HTTP request: one middleware, an ordered chain of steps.

The whole order is in ``build_chain`` (as Alertmanager's ``notify.MultiStage`` lists
its stages in one place)::

    client address (behind trusted proxies) -> IP filter -> rate limit per address
    -> authenticate -> the credential's networks -> authorize -> MFA
    -> rate limit per tenant and credential

A step is any object with ``async def check(self, request, ctx) -> Response | None``:
it returns a response to refuse the request (the chain stops there) or None to let
it go on, and may fill in ``ctx`` (an ``Access``: the client address, the permission
the view declares, the Principal, the tenant). Adding IP filtering or rate limiting is
adding a step and one line in ``build_chain``.

What each request needs is declared by its view: ``permissions = {"GET": READ, ...}``
on the view class (``models.access.permissions``). A view or method without a
declaration is refused (deny by default). Faust's own pages (/table, /router, /stats,
/graph, ...) declare nothing; they show every tenant's data and need ADMIN.

Secure by default: with no credential configured at all (no token on the ``tokens``
topic, no basic user, no other authenticator), requests from loopback act as an admin
of every tenant, and any other client is refused unless the worker runs ``--insecure``.
"""

from __future__ import annotations

import base64
import ipaddress
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from aiohttp import web

from app.access_guards import (
    AddressRateLimit,
    CredentialNetworks,
    ForwardedClient,
    IpAllowed,
    RateLimit,
    RequestLimiter,
    RequireMfa,
)
from app.access_oidc import OidcAuth
from app.config.access import AccessConfig, BasicUserConfig
from app.login import Login, SessionAuth
from app.login import register as register_login
from app.web import PERMISSION, PRINCIPAL, TENANT, refuse, requested_tenant
from models.access.passwords import PasswordCheck
from models.access.permissions import ADMIN, PUBLIC, Permission
from models.access.principal import CredentialRefused, Principal
from models.access.sessions import Sessions
from models.access.tokens import TokenStore

REALM = 'Bearer realm="alertstream", Basic realm="alertstream"'
LOCAL_ADMIN = Principal(id="local", roles={"*": "admin"})  # no credentials configured


@dataclass(frozen=True, slots=True)
class Need:
    """What a route requires: a permission, on every tenant when the view answers about
    all of them at once (Faust's table pages, /api/v1/limits: ``every_tenant = True``
    on the view), so a credential bound to some tenants cannot use it."""

    permission: Permission
    every_tenant: bool = False


@dataclass(slots=True)
class Access:
    """What the steps learn about one request, in order."""

    client: str  # the client's address (the peer, or who a trusted proxy forwarded for)
    need: Need  # what the view declares for this method
    principal: Principal | None = None  # set by Authenticate (None: a public view)
    tenant: str | None = None  # set by Authorize: the tenant the request acts on


class Step(Protocol):
    async def check(self, request: web.Request, ctx: Access) -> web.Response | None: ...


class Authenticator(Protocol):
    """One kind of credential (API token, basic user, OIDC JWT)."""

    def configured(self) -> bool:
        """Whether any credential of this kind exists (secure by default needs to know)."""
        ...

    async def authenticate(self, scheme: str, credentials: str) -> Principal | None:
        """The principal for ``Authorization: <scheme> <credentials>``; None if the
        credential is not of this kind or not known; CredentialRefused (with a reason
        safe to show) if it is of this kind and refused (expired, bad signature)."""
        ...


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class ClientAddress:
    """The client is the TCP peer (an IP filter with trusted proxies may replace it
    with the address a proxy forwarded for)."""

    async def check(self, request: web.Request, ctx: Access) -> web.Response | None:
        ctx.client = request.remote or ""
        return None


class TokenAuth:
    """``Authorization: Bearer ast_...``: an API token from the ``tokens`` topic."""

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    def configured(self) -> bool:
        return bool(self.tokens.records)

    async def authenticate(self, scheme: str, credentials: str) -> Principal | None:
        if scheme != "bearer":
            return None
        return self.tokens.authenticate(credentials, time.time())


class BasicAuth:
    """``Authorization: Basic``: the users of ``access.users`` (scrypt hashes)."""

    def __init__(self, users: Sequence[BasicUserConfig]) -> None:
        self.users = {u.name: u for u in users}
        self.check_password = PasswordCheck()

    def configured(self) -> bool:
        return bool(self.users)

    async def authenticate(self, scheme: str, credentials: str) -> Principal | None:
        if scheme != "basic":
            return None
        try:  # aiohttp.BasicAuth is deprecated (aiohttp 4 removes it)
            decoded = base64.b64decode(credentials, validate=True).decode()
        except ValueError:  # binascii.Error, UnicodeDecodeError
            return None
        login, _, password = decoded.partition(":")
        user = self.users.get(login)
        if user is None or not self.check_password(login, password, user.password_hash):
            return None
        return user.principal()


class Authenticate:
    """Who the caller is: the first authenticator that accepts the Authorization header.
    Public views need no one. No header: with no credential configured anywhere, loopback
    (or anyone with ``--insecure``) is an admin; otherwise 401."""

    def __init__(
        self, authenticators: Sequence[Authenticator], tokens: TokenStore, insecure: bool
    ) -> None:
        self.authenticators = list(authenticators)
        self.tokens = tokens
        self.insecure = insecure

    async def check(self, request: web.Request, ctx: Access) -> web.Response | None:
        if ctx.need.permission is PUBLIC:
            return None  # its own credential, if any, is the view's to check (Slack, links)
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, credentials = header.strip().partition(" ")
            for authenticator in self.authenticators:
                try:
                    principal = await authenticator.authenticate(
                        scheme.lower(), credentials.strip()
                    )
                except CredentialRefused as exc:
                    return refuse(401, str(exc), **{"WWW-Authenticate": REALM})
                if principal is not None:
                    ctx.principal = principal
                    return None
            if not self.tokens.ready:
                return refuse(503, "API tokens not loaded yet; retry", **{"Retry-After": "1"})
            return refuse(401, "invalid credential", **{"WWW-Authenticate": REALM})
        if not any(a.configured() for a in self.authenticators):
            if self.insecure or is_loopback(ctx.client):
                ctx.principal = LOCAL_ADMIN
                return None
            if not self.tokens.ready:
                return refuse(503, "API tokens not loaded yet; retry", **{"Retry-After": "1"})
            return refuse(
                403,
                "no credential is configured: only loopback clients are served "
                "(create a token with `alertstream token create`, or run --insecure)",
            )
        return refuse(401, "credential required", **{"WWW-Authenticate": REALM})


class Authorize:
    """Whether the principal's role on the tenant grants the view's permission. The
    tenant comes from the credential: one bound to tenants acts on those only (naming
    another is 403); one holding ``*`` acts on the tenant the request names."""

    async def check(self, request: web.Request, ctx: Access) -> web.Response | None:
        named = requested_tenant(request)
        principal, permission = ctx.principal, ctx.need.permission
        if principal is None:  # a public view: the tenant is what the request names
            ctx.tenant = named
            return None
        if ctx.need.every_tenant and not principal.may(permission, "*"):
            return refuse(403, f"{principal.id} may not {permission} on every tenant")
        bound = principal.tenants()
        if bound is not None:
            if named is not None and named not in bound:
                return refuse(403, f"tenant {named}: not granted to {principal.id}")
            if named is None:
                if len(bound) != 1:
                    return refuse(
                        400, "tenant: required (X-Scope-OrgID): this credential holds several"
                    )
                named = bound[0]
        if not principal.may(permission, named):
            where = f"tenant {named}" if named else "any tenant"
            return refuse(403, f"{principal.id} may not {permission} on {where}")
        ctx.tenant = named
        return None


def build_chain(
    access: AccessConfig, tokens: TokenStore, insecure: bool, login: Login
) -> list[Step]:
    """The steps every request passes, in order (the one place that lists them)."""
    authenticators: list[Authenticator] = [
        TokenAuth(tokens),
        BasicAuth(access.users),
        SessionAuth(login),
    ]
    if access.oidc is not None:
        authenticators.append(OidcAuth(access.oidc))
    limits = access.rate_limits
    return [
        ClientAddress(),
        ForwardedClient(access.ip_filter.proxies()),
        IpAllowed(access.ip_filter.filter()),
        AddressRateLimit(RequestLimiter(limits.address.limit())),
        Authenticate(authenticators, tokens, insecure),
        CredentialNetworks(),
        Authorize(),
        RequireMfa(access.mfa.policy()),
        RateLimit(RequestLimiter(limits.credential.limit()), RequestLimiter(limits.tenant.limit())),
    ]


class Permissions:
    """The permission a request needs: its view's declaration for the method."""

    def __init__(self, app: faust.App, access: AccessConfig) -> None:
        self.app = app
        self.public_metrics = access.public_metrics
        self._views: dict[Any, Any] = {}

    def view(self, resource: Any) -> Any:
        """The Faust view behind an aiohttp resource (found once, by its path)."""
        if resource not in self._views:
            for path, view in self.app.web.views.items():
                if resource.raw_match(path):
                    self._views[resource] = view
                    break
            else:
                self._views[resource] = None
        return self._views[resource]

    def need(self, resource: Any, method: str) -> Need | None:
        """What ``method`` on ``resource`` requires; None: the view declares nothing
        for it (refused)."""
        view = self.view(resource)
        if view is None:
            return None
        if type(view).__module__.startswith("faust."):
            return Need(ADMIN, every_tenant=True)  # Faust's own pages: every table
        if self.public_metrics and resource.canonical == "/metrics":
            return Need(PUBLIC)
        permission = getattr(view, "permissions", {}).get("GET" if method == "HEAD" else method)
        if permission is None:
            return None
        return Need(permission, bool(getattr(view, "every_tenant", False)))

    def table(self) -> list[tuple[str, str, Need | None]]:
        """Every route the web server has, as (method, path, what it requires): the
        router walked, for the access test and the docs."""
        return [
            (route.method, route.resource.canonical, self.need(route.resource, route.method))
            for route in self.app.web.web_app.router.routes()
            if route.resource is not None
        ]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware(permissions: Permissions, chain: Sequence[Step]) -> Any:
    """The aiohttp middleware that runs ``chain`` before every routed request."""

    @web.middleware
    async def access_control(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.http_exception is not None:
            return await handler(request)  # 404 / 405: nothing to protect
        need = permissions.need(request.match_info.route.resource, request.method)
        if need is None:
            return refuse(403, f"{request.method} {request.path}: no permission declared")
        ctx = Access(client=request.remote or "", need=need)
        for step in chain:
            refused = await step.check(request, ctx)
            if refused is not None:
                return refused
        request[PRINCIPAL] = ctx.principal
        request[TENANT] = ctx.tenant
        request[PERMISSION] = need.permission
        return await handler(request)

    return access_control


def install(app: faust.App, access: AccessConfig, tokens: TokenStore, insecure: bool) -> None:
    """Put access control in front of every view of the worker's web server."""
    login = Login(access.users, Sessions(access.sessions.key.encode(), access.sessions.ttl))
    register_login(app, login)
    chain = build_chain(access, tokens, insecure, login)
    app.web.web_app.middlewares.append(middleware(Permissions(app, access), chain))
