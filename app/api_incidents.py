"""HTTP API of incidents and of the learned correlation graph.

Reads are answered by the worker that owns the tenant (forwarded there); changes are
commands on the `commands` topic, applied on the tenant's partition
(``agents/incidents.py``), so they are ordered with the alerts and survive a restart.
A body is validated whole: 400 for what is not JSON, 422 listing every reason.

- ``GET /api/v1/incidents?tenant=`` (``&pending=1``: candidates too)
- ``GET /api/v1/incidents/{id}?tenant=``: with its members and how each joined
- ``POST /api/v1/incidents/{id}/ack|resolve``: ``{"user": ...}``
- ``POST /api/v1/incidents/{id}/merge``: ``{"sources": [ids]}`` move into this one
- ``POST /api/v1/incidents/{id}/split``: ``{"fingerprints": [...]}`` move to a new one
- ``GET /api/v1/correlation/graph?tenant=``: learned edges ``[cause, effect, score]``
- ``POST /api/v1/correlation/graph``: ``{"cause", "effect", "action": "confirm"|"veto"}``
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from faust.web import Request, Response

from app.gather import LOCAL, gathered
from app.web import RuntimeView, json_response, may_act_on, send_commands, tenant_of
from models.access.permissions import EDIT, READ, RESPOND

ACTIONS = ("ack", "resolve", "merge", "split")


def _error(status: int, reason: str, errors: list[str] | None = None) -> Response:
    body: dict[str, Any] = {"status": "error", "error": reason}
    if errors:
        body["errors"] = errors
    return json_response(body, status)


async def _read(request: Request, local: Callable[[str], Any]) -> Response:
    tenant = tenant_of(request)
    if not tenant:
        return _error(400, "tenant: required (query parameter or X-Scope-OrgID header)")
    data = await gathered(request, lambda: local(tenant))
    if request.headers.get(LOCAL):
        return json_response(data)  # a forwarded request: the bare answer
    return json_response({"status": "success", "data": data})


async def _body(request: Request) -> dict[str, Any] | Response:
    """The JSON object of a request, or the 400 answer that says why it is none."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error(400, f"invalid JSON: {exc}")
    if not isinstance(body, dict):
        return _error(400, "expected a JSON object")
    return body


def _strings(body: dict[str, Any], key: str, errors: list[str]) -> list[str]:
    value = body.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        errors.append(f"{key}: a non-empty list of strings required")
        return []
    return value


class _IncidentView(RuntimeView):
    def stage_or_404(self) -> Response | None:
        if self.runtime.incidents is None:
            return _error(404, "correlation is not configured (no correlation: in pipelines)")
        return None

    async def submit(
        self, request: Request, build: Callable[[dict[str, Any], list[str]], dict[str, Any]]
    ) -> Response:
        """Validate a change's body whole and send it as a command of the tenant."""
        if (missing := self.stage_or_404()) is not None:
            return missing
        body = await _body(request)
        if not isinstance(body, dict):  # the error answer
            return body
        errors: list[str] = []
        tenant = tenant_of(request) or body.get("tenant")
        if not isinstance(tenant, str) or not tenant:
            errors.append("tenant: required (query parameter, X-Scope-OrgID or body)")
        elif not may_act_on(request, tenant):
            return _error(403, f"tenant {tenant}: not granted")
        cmd = build(body, errors)
        if errors:
            return _error(422, "invalid request; nothing was done", errors)
        cmd.update(tenant=tenant, user=str(body.get("user") or ""))
        await send_commands(str(tenant), [cmd])
        return json_response({"status": "success"}, 202)


class Incidents(_IncidentView):
    permissions = {"GET": READ}

    async def get(self, request: Request) -> Response:
        if (missing := self.stage_or_404()) is not None:
            return missing
        pending = request.query.get("pending") in ("1", "true")
        stage = self.runtime.incidents
        assert stage is not None
        return await _read(request, lambda tenant: stage.list(tenant, pending))


class IncidentDetail(_IncidentView):
    permissions = {"GET": READ}

    async def get(self, request: Request, incident: str) -> Response:
        if (missing := self.stage_or_404()) is not None:
            return missing
        stage = self.runtime.incidents
        assert stage is not None
        tenant = tenant_of(request)
        if not tenant:
            return _error(400, "tenant: required (query parameter or X-Scope-OrgID header)")
        found = await gathered(request, lambda: [i for i in [stage.get(tenant, incident)] if i])
        if request.headers.get(LOCAL):
            return json_response(found)  # a forwarded request: the bare answer
        if not found:
            return _error(404, f"incident {incident} not found for tenant {tenant}")
        return json_response({"status": "success", "data": found[0]})


class IncidentAction(_IncidentView):
    permissions = {"POST": RESPOND}

    async def post(self, request: Request, incident: str, action: str) -> Response:
        if action not in ACTIONS:
            return _error(404, f"unknown action {action!r} (one of {', '.join(ACTIONS)})")

        def build(body: dict[str, Any], errors: list[str]) -> dict[str, Any]:
            cmd: dict[str, Any] = {"op": f"incident.{action}", "incident": incident}
            if action == "merge":
                cmd["sources"] = _strings(body, "sources", errors)
            elif action == "split":
                cmd["fingerprints"] = _strings(body, "fingerprints", errors)
            return cmd

        return await self.submit(request, build)


class Graph(_IncidentView):
    permissions = {"GET": READ, "POST": EDIT}

    async def get(self, request: Request) -> Response:
        if (missing := self.stage_or_404()) is not None:
            return missing
        stage = self.runtime.incidents
        assert stage is not None
        return await _read(request, stage.graph)

    async def post(self, request: Request) -> Response:
        def build(body: dict[str, Any], errors: list[str]) -> dict[str, Any]:
            for key in ("cause", "effect"):
                if not isinstance(body.get(key), str) or not body.get(key):
                    errors.append(f"{key}: an alert kind required")
            if body.get("action") not in ("confirm", "veto"):
                errors.append("action: confirm or veto")
            return {
                "op": f"correlation.{body.get('action')}",
                "cause": body.get("cause"),
                "effect": body.get("effect"),
            }

        return await self.submit(request, build)


ROUTES: dict[str, type[RuntimeView]] = {
    "/api/v1/incidents": Incidents,
    "/api/v1/incidents/{incident}": IncidentDetail,
    "/api/v1/incidents/{incident}/{action}": IncidentAction,
    "/api/v1/correlation/graph": Graph,
}
