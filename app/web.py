"""What the worker's HTTP views share: JSON bodies, the tenant a request names, the
commands topic, and views bound to the alert runtime.

Tenancy follows Cortex and Mimir: the ``X-Scope-OrgID`` header, else a ``tenant``
query parameter (for clients that cannot set headers); the access middleware
(``app/access.py``) checks it against the credential, which may bind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import faust
import orjson
from aiohttp import web
from faust.web import Request, Response, View

from app.faust_app import commands_topic, send_batch
from models.access.permissions import Permission
from models.access.principal import Principal

# where the access middleware leaves the caller, the tenant the request acts on, and
# the permission the view declared (typed keys: aiohttp warns about str keys)
PRINCIPAL = web.RequestKey[Principal | None]("principal")
TENANT = web.RequestKey[str | None]("tenant")
PERMISSION = web.RequestKey[Permission]("permission")

if TYPE_CHECKING:
    from agents.runtime import AlertRuntime


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as a JSON body (orjson: the views answer large lists)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def refuse(status: int, reason: str, **headers: str) -> Response:
    """The access middleware's refusal: a JSON error with extra headers
    (WWW-Authenticate, Retry-After)."""
    response = json_response({"status": "error", "error": reason}, status)
    response.headers.update(headers)
    return response


def am_error(status: int, reason: str) -> Response:
    """Alertmanager's error body: a JSON string."""
    return json_response(reason, status)


def principal_of(request: Request) -> Principal | None:
    """The caller the access middleware authenticated, None where it let the request
    through without a credential (public views)."""
    return request.get(PRINCIPAL)


def requested_tenant(request: Request) -> str | None:
    """The tenant the request names: in its path, else the header, else the query."""
    return (
        request.match_info.get("tenant")
        or request.headers.get("X-Scope-OrgID")
        or request.query.get("tenant")
        or None
    )


def tenant_of(request: Request) -> str | None:
    """The tenant the request acts on, None if none: what the access middleware derived
    from the credential (a credential bound to one tenant acts on it), else the named one."""
    if TENANT in request:
        return request[TENANT]
    return requested_tenant(request)


def may_act_on(request: Request, tenant: str) -> bool:
    """Whether the caller may do what this view does on ``tenant`` (a tenant named in a
    body or found in state rather than in the request's header)."""
    principal = principal_of(request)
    return principal is None or principal.may(request[PERMISSION], tenant)


async def send_commands(tenant: str, commands: list[dict[str, Any]]) -> None:
    """Silences, expiries and acks as one record on the commands topic, keyed by tenant
    (``agents.commands`` applies them on the partition that owns the tenant), carrying
    the request's trace when tracing is on."""
    await send_batch(commands_topic, tenant.encode(), commands)


class RuntimeView(View):
    """A view that answers from this worker's alert runtime, given at registration
    (``register(app, runtime)`` in the module that defines the view)."""

    runtime: AlertRuntime


def serve(app: faust.App, routes: dict[str, type[RuntimeView]], runtime: AlertRuntime) -> None:
    """Register each view at its path, bound to ``runtime``."""
    for path, view in routes.items():
        app.page(path)(type(view.__name__, (view,), {"runtime": runtime}))
