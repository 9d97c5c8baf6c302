"""Access control for every HTTP request: one middleware, an ordered chain of steps.

The whole order is in ``build_chain`` (as Alertmanager's ``notify.MultiStage`` lists
its stages in one place)::

    client address (behind trusted proxies) -> IP filter -> rate limit per address
    -> failed authentications per address -> authenticate -> the credential's networks
    -> authorize -> MFA -> rate limit per tenant and credential

A step is any object with ``async def check(self, request, ctx) -> Response | None``:
it returns a response to refuse the request (the chain stops there) or None to let
it go on, and may fill in ``ctx`` (an ``Access``: the client address, the permission
the view declares, the Principal, the tenant). Adding IP filtering or rate limiting is
adding a step and one line in ``build_chain``.

What each request needs is declared by its view: ``permissions = {"GET": READ, ...}``
on the view class (``models.access.permissions``; read by ``app/access_routes.py``).
A view or method without a declaration is refused (deny by default).

A method the view does not serve answers 405 with ``Allow`` before any credential is
asked for: aiohttp's router answers so for a method no route has, so the methods a path
serves are no secret; HEAD, which Faust routes on every view, is 405 where there is no GET.

Secure by default: with no credential configured at all (no token on the ``tokens``
topic, no basic user, no other authenticator), requests from loopback act as an admin
of every tenant, and any other client is refused unless the worker runs ``--insecure``.

SIGHUP builds the chain again from the pipelines file (``AccessControl.reload``).
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from aiohttp import web

from app.access_guards import (
    AddressRateLimit,
    CredentialNetworks,
    FailedAuthLimit,
    ForwardedClient,
    IpAllowed,
    RateLimit,
    RequestLimiter,
    RequireMfa,
)
from app.access_oidc import OidcAuth
from app.access_routes import Need, Permissions, not_allowed
from app.config.access import AccessConfig, BasicUserConfig
from app.config.loader import ConfigError, load_file
from app.login import Login, SessionAuth
from app.login import register as register_login
from app.web import PERMISSION, PRINCIPAL, TENANT, refuse, requested_tenant
from models.access.passwords import PasswordCheck
from models.access.permissions import PUBLIC
from models.access.principal import CredentialRefused, Principal
from models.access.tokens import TokenStore

log = logging.getLogger(__name__)

REALM = 'Bearer realm="alertstream", Basic realm="alertstream"'
# no credentials configured: loopback acts as admin, counted as MFA (it cannot step up)
LOCAL_ADMIN = Principal(id="local", roles={"*": "admin"}, mfa=True)


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
    (or anyone with ``--insecure``) is an admin; otherwise 401. A credential presented
    and refused is counted against the client's address (``failures``)."""

    def __init__(
        self,
        authenticators: Sequence[Authenticator],
        tokens: TokenStore,
        insecure: bool,
        failures: FailedAuthLimit,
    ) -> None:
        self.authenticators = list(authenticators)
        self.tokens = tokens
        self.insecure = insecure
        self.failures = failures

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
                    self.failures.failed(ctx.client)
                    return refuse(401, str(exc), **{"WWW-Authenticate": REALM})
                if principal is not None:
                    ctx.principal = principal
                    return None
            if not self.tokens.ready:  # it may be a token not read yet: not a failure
                return refuse(503, "API tokens not loaded yet; retry", **{"Retry-After": "1"})
            self.failures.failed(ctx.client)
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
    access: AccessConfig,
    tokens: TokenStore,
    insecure: bool,
    login: Login,
    failures: FailedAuthLimit,
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
        failures,
        Authenticate(authenticators, tokens, insecure, failures),
        CredentialNetworks(),
        Authorize(),
        RequireMfa(access.mfa.policy()),
        RateLimit(RequestLimiter(limits.credential.limit()), RequestLimiter(limits.tenant.limit())),
    ]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Views(Protocol):
    """What the middleware asks about a route (``Permissions`` on a worker)."""

    public_metrics: bool

    def need(self, resource: Any, method: str) -> Need | None: ...

    def methods(self, resource: Any) -> set[str] | None: ...


class AccessControl:
    """One worker's access control, built from ``access:``: the chain, the local
    logins and the failed authentications per address. SIGHUP reads ``access:`` from
    the pipelines file again (``reload``) and builds a new chain; the logins and
    failure counts carry over, request rate buckets start full."""

    def __init__(
        self, access: AccessConfig, tokens: TokenStore, insecure: bool, views: Views
    ) -> None:
        self.tokens, self.insecure, self.views = tokens, insecure, views
        self.access = access
        self.login = Login(access.users, access.sessions.sessions())
        self.failures = FailedAuthLimit(access.rate_limits.failed_auth.failures())
        self.use(access)

    def use(self, access: AccessConfig) -> None:
        """Serve requests by ``access`` from now on (a validated config)."""
        if access.sessions != self.access.sessions:  # a new key: the old sessions end
            self.login.sessions = access.sessions.sessions()
        self.login.users = {u.name: u for u in access.users}
        limit = access.rate_limits.failed_auth
        self.failures.window.limit, self.failures.window.window = limit.limit, limit.window
        self.views.public_metrics = access.public_metrics
        self.chain = build_chain(access, self.tokens, self.insecure, self.login, self.failures)
        self.access = access

    def reload(self, path: str) -> list[str]:
        """SIGHUP: ``access:`` of the pipelines file at ``path``, used if the file is
        valid; returns its errors (the running access control stays) or []."""
        try:
            access = load_file(path).access
        except ConfigError as exc:
            log.error("access: reload of %s refused, the running access stays:\n%s", path, exc)
            return exc.errors
        self.use(access)
        log.warning(
            "access: reloaded from %s: %d users, oidc %s, ip filter allow %d deny %d",
            path,
            len(access.users),
            access.oidc.issuer if access.oidc else "off",
            len(access.ip_filter.allow),
            len(access.ip_filter.deny),
        )
        return []


def middleware(control: AccessControl) -> Any:
    """The aiohttp middleware that runs the control's chain before every routed request."""

    @web.middleware
    async def access_control(request: web.Request, handler: Handler) -> web.StreamResponse:
        unrouted = request.match_info.http_exception
        if isinstance(unrouted, web.HTTPMethodNotAllowed):
            return not_allowed(request.method, set(unrouted.allowed_methods))
        if unrouted is not None:
            return await handler(request)  # 404: nothing to protect
        resource = request.match_info.route.resource
        if request.method == "HEAD":
            methods = control.views.methods(resource)
            if methods is not None and "GET" not in methods:
                return not_allowed("HEAD", methods)
        need = control.views.need(resource, request.method)
        if need is None:
            return refuse(403, f"{request.method} {request.path}: no permission declared")
        ctx = Access(client=request.remote or "", need=need)
        for step in control.chain:
            refused = await step.check(request, ctx)
            if refused is not None:
                return refused
        request[PRINCIPAL] = ctx.principal
        request[TENANT] = ctx.tenant
        request[PERMISSION] = need.permission
        response = await handler(request)
        if need.permission is PUBLIC and response.status == 401:
            control.failures.failed(ctx.client)  # its own credential: login, Slack's signature
        return response

    return access_control


def for_worker(
    app: faust.App, access: AccessConfig, tokens: TokenStore, insecure: bool
) -> AccessControl:
    """The access control of a worker's web server (its views' declarations); SIGHUP
    calls its ``reload``, ``install`` puts it in front of the views."""
    return AccessControl(access, tokens, insecure, Permissions(app))


def install(app: faust.App, control: AccessControl) -> None:
    """Put ``control`` in front of every view of the worker's web server (after the
    views that others put in front, e.g. tracing, so refused requests are traced)."""
    register_login(app, control.login)
    app.web.web_app.middlewares.append(middleware(control))
