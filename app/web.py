"""What the worker's HTTP views share: JSON bodies and the tenant a request names.

Tenancy follows Cortex and Mimir: the ``X-Scope-OrgID`` header, else a ``tenant``
query parameter (for clients that cannot set headers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from faust.web import Request, Response, View

if TYPE_CHECKING:
    from agents.runtime import AlertRuntime


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as a JSON body (orjson: the views answer large lists)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def tenant_of(request: Request) -> str | None:
    """The tenant the request names, None if it names none."""
    return request.headers.get("X-Scope-OrgID") or request.query.get("tenant") or None


class RuntimeView(View):
    """A view that answers from this worker's alert runtime, given at registration
    (``register(app, runtime)`` in the module that defines the view)."""

    runtime: AlertRuntime
