"""What the worker's HTTP views share: JSON bodies, the tenant a request names, the
commands topic, and views bound to the alert runtime.

Tenancy follows Cortex and Mimir: the ``X-Scope-OrgID`` header, else a ``tenant``
query parameter (for clients that cannot set headers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import faust
import orjson
from aiohttp import web
from faust.web import Request, Response, View

from app.faust_app import commands_topic
from models.access.principal import Principal

PRINCIPAL = "alertstream.principal"  # where the access middleware leaves the caller

if TYPE_CHECKING:
    from agents.runtime import AlertRuntime


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as a JSON body (orjson: the views answer large lists)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def am_error(status: int, reason: str) -> Response:
    """Alertmanager's error body: a JSON string."""
    return json_response(reason, status)


def principal_of(request: Request) -> Principal | None:
    """The caller the access middleware authenticated, None where it let the request
    through without a credential (public views)."""
    return request.get(PRINCIPAL)


def tenant_of(request: Request) -> str | None:
    """The tenant the request names, None if it names none."""
    return request.headers.get("X-Scope-OrgID") or request.query.get("tenant") or None


async def send_commands(tenant: str, commands: list[dict[str, Any]]) -> None:
    """Silences, expiries and acks as one record on the commands topic, keyed by tenant
    (``agents.commands`` applies them on the partition that owns the tenant)."""
    await commands_topic.send(key=tenant.encode(), value=orjson.dumps(commands))


class RuntimeView(View):
    """A view that answers from this worker's alert runtime, given at registration
    (``register(app, runtime)`` in the module that defines the view)."""

    runtime: AlertRuntime


def serve(app: faust.App, routes: dict[str, type[RuntimeView]], runtime: AlertRuntime) -> None:
    """Register each view at its path, bound to ``runtime``."""
    for path, view in routes.items():
        app.page(path)(type(view.__name__, (view,), {"runtime": runtime}))
