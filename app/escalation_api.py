"""HTTP views of escalation: act on a group's chain, read it, and signed action links.

    POST /api/v1/groups/{key}/ack|resolve|reassign|snooze   {tenant?, user, why, ...}
    GET  /api/v1/groups/{key}/escalation?tenant=T            the chain's state and audit
    GET  /api/v1/actions/{token}                             a signed link from a page

``{key}`` is the group key, URL-encoded (it holds ``/``, ``{`` and ``"``). Writes go
through the `commands` topic like every other ack (``agents/commands.py``, then
``agents/escalation.py``), so they apply on the worker that owns the tenant. Action
links are HMAC-signed with ``ALERTSTREAM_ACTION_LINK_KEY`` and expire
(``models/escalation/tokens.py``); without the key, pages carry no links and the
endpoint answers 404.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import TYPE_CHECKING, Any

import faust
import orjson
from faust.web import Request, Response, View

from app.gather import gathered
from app.web import json_response, may_act_on, send_commands, tenant_of
from models.access.permissions import PUBLIC, READ, RESPOND
from models.escalation.tokens import TokenError, verify
from models.wire import WireError, parse_time

if TYPE_CHECKING:
    from agents.escalation import Escalations

LINK_KEY = os.environ.get("ALERTSTREAM_ACTION_LINK_KEY", "").encode()
OPS = ("ack", "resolve", "reassign", "snooze")


def _error(status: int, reasons: list[str]) -> Response:
    return json_response(
        {"status": "error", "error": "; ".join(reasons), "errors": reasons}, status
    )


def command_from(op: str, key: str, body: Any, header_tenant: str | None, now: float) -> Any:
    """The command a POST asks for, or the list of everything wrong with it."""
    if not isinstance(body, dict):
        return ["body: expected a JSON object"]
    errors: list[str] = []
    tenant = body.get("tenant") or header_tenant
    if not isinstance(tenant, str) or not tenant:
        errors.append("tenant: required (body, X-Scope-OrgID header or ?tenant=)")
    cmd: dict[str, Any] = {
        "op": op,
        "id": uuid.uuid4().hex,  # applied once even if the commands topic is read again
        "tenant": tenant,
        "group_key": key,
        "user": str(body.get("user") or ""),
        "why": str(body.get("why") or ""),
        "source": "api",
    }
    if op == "reassign":
        if not isinstance(body.get("to"), str) or not body["to"]:
            errors.append("to: required (the user or receiver to reassign to)")
        cmd["to"] = body.get("to")
    if op in ("ack", "snooze") and body.get("until") is not None:
        try:
            cmd["until"] = parse_time(body["until"], "until")
            if cmd["until"] <= now:
                errors.append("until: must be in the future")
        except WireError as exc:
            errors.append(str(exc))
    if op == "snooze" and body.get("duration") is not None:
        d = body["duration"]
        if isinstance(d, bool) or not isinstance(d, int | float) or d <= 0:
            errors.append("duration: a positive number of seconds")
        cmd["duration"] = d
    return errors or cmd


class GroupAction(View):
    permissions = {"POST": RESPOND}

    async def post(self, request: Request, key: str, op: str) -> Response:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError as exc:
            return _error(400, [f"invalid JSON: {exc}"])
        found = command_from(op, key, body, tenant_of(request), time.time())
        if isinstance(found, list):
            return _error(422 if isinstance(body, dict) else 400, found)
        if not may_act_on(request, found["tenant"]):
            return _error(403, [f"tenant {found['tenant']}: not granted"])
        await send_commands(found["tenant"], [found])
        return json_response({"status": "success", "command": found}, 202)


class EscalationState(View):
    permissions = {"GET": READ}

    escalations: Escalations

    async def get(self, request: Request, key: str) -> Response:
        tenant = tenant_of(request)
        if not tenant:
            return _error(400, ["tenant: required (X-Scope-OrgID header or ?tenant=)"])

        def local() -> list[dict[str, Any]]:
            state = self.escalations.state(tenant, key)
            return [state] if state else []

        found = await gathered(request, local)
        if request.headers.get("X-Alertstream-Local"):
            return json_response(found)
        if not found:
            return _error(404, [f"no escalation for group {key!r} of tenant {tenant!r}"])
        return json_response({"status": "success", "data": found[0]})


class ActionLink(View):
    permissions = {"GET": PUBLIC}  # the signed link is its credential

    async def get(self, request: Request, token: str) -> Response:
        if not LINK_KEY:
            return _error(404, ["action links are not configured"])
        try:
            claims = verify(LINK_KEY, token, time.time())
        except TokenError as exc:
            return _error(403, [str(exc)])
        cmd = {
            "op": claims["op"],
            "id": uuid.uuid4().hex,
            "tenant": claims["tenant"],
            "group_key": claims["group_key"],
            "user": claims.get("user", ""),
            "source": "link",
        }
        await send_commands(claims["tenant"], [cmd])
        return json_response({"status": "success", "done": claims["op"], "group": cmd["group_key"]})


def register(app: faust.App, escalations: Escalations) -> None:
    """The views, the state view bound to this worker's ``escalations``."""
    app.page("/api/v1/groups/{key:.+}/{op:" + "|".join(OPS) + "}")(GroupAction)
    state = type("EscalationState", (EscalationState,), {"escalations": escalations})
    app.page("/api/v1/groups/{key:.+}/escalation")(state)
    app.page("/api/v1/actions/{token}")(ActionLink)
