"""The worker's HTTP API v1 (Faust web): health, ingestion, the active alerts, and what
Alertmanager's API lacks: group acks, limits, an alert's history, Slack's buttons.

Bodies are validated whole before anything is produced: a malformed body answers
400, an invalid record 422 with every reason, and nothing of that body is accepted.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import orjson
from faust.web import Request, Response, View

from agents.evaluate import learned_models
from app.api_v2 import limits_report
from app.faust_app import alerts_topic, app, metrics_topic, send_batch
from app.gather import LOCAL, gathered
from app.settings import settings
from app.web import (
    RuntimeView,
    am_error,
    json_response,
    may_act_on,
    principal_of,
    send_commands,
    tenant_of,
)
from channels.slack_interactions import SlackPayloadError, SlackSignatureError, parse_interaction
from models.access.permissions import INGEST, PUBLIC, READ, RESPOND
from models.alerting.alert import Alert
from models.rules.sample import Sample, parse_many
from models.wire import WireError, decode_batch, parse_time


def error(status: int, reason: str, **extra: Any) -> Response:
    return json_response({"status": "error", "error": reason, **extra}, status)


async def tenant_read(request: Request, local: Callable[[str], list[Any]]) -> Response:
    """A read of one tenant's state: 400 without a tenant, else ``local(tenant)`` on the
    worker that owns the tenant (another worker forwards the request there)."""
    tenant = tenant_of(request)
    if not tenant:
        return error(400, "tenant: required (query parameter or X-Scope-OrgID header)")
    data = await gathered(request, lambda: local(tenant))
    return json_response({"status": "success", "data": data})


async def accept(request: Request, cls: Any, topic: Any) -> Response:
    """Validate a JSON object or array of ``cls`` records and produce them by tenant."""
    body = await request.read()
    try:
        items = decode_batch(body)
    except WireError as exc:
        return error(400, str(exc))
    good, bad = parse_many(cls, items, tenant_of(request), time.time())
    if bad:
        return error(
            422,
            "invalid records; nothing was accepted",
            errors=[{"index": items.index(item), "reason": reason} for item, reason in bad],
        )
    by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in good:
        by_tenant[record.tenant].append(record.to_wire())
    if refused := [t for t in sorted(by_tenant) if not may_act_on(request, t)]:
        return error(403, f"tenant {', '.join(refused)}: not granted; nothing was accepted")
    for tenant, batch in by_tenant.items():
        await send_batch(topic, tenant.encode(), batch)
    return json_response({"status": "success", "accepted": len(good)}, 202)


@app.page("/healthz")
class Health(View):
    permissions = {"GET": PUBLIC}

    async def get(self, request: Request) -> Response:
        assigned = app.assignor.assigned_actives()
        ok = bool(assigned) and not (app.rebalancing or app.in_recovery)
        return json_response(
            {"status": "ok" if ok else "starting", "partitions": len(assigned)}, 200 if ok else 503
        )


@app.page("/api/v1/metrics")
class Metrics(View):
    permissions = {"POST": INGEST}

    async def post(self, request: Request) -> Response:
        return await accept(request, Sample, metrics_topic)


class Alerts(RuntimeView):
    permissions = {"GET": READ, "POST": INGEST}

    async def post(self, request: Request) -> Response:
        return await accept(request, Alert, alerts_topic)

    async def get(self, request: Request) -> Response:
        """The tenant's active alerts, answered by the worker that owns the tenant."""

        def local(tenant: str) -> list[dict[str, Any]]:
            now = time.time()
            return [
                {**a.to_wire(), "status": "firing"}
                for a in self.runtime.live_alerts()
                if a.tenant == tenant and not a.resolved_at(now)
            ]

        return await tenant_read(request, local)


@app.page("/api/v1/models")
class LearnedModels(View):
    """The learned per-series state of this tenant's rules: auto-threshold bands,
    forecasts, anomaly detectors' expected ranges (``?tenant=`` or X-Scope-OrgID)."""

    permissions = {"GET": READ}

    async def get(self, request: Request) -> Response:
        return await tenant_read(request, lambda tenant: learned_models(tenant, time.time()))


@app.page("/api/v1/slack/interactions")
class SlackInteractions(View):
    """Slack's interactivity request URL: the Acknowledge / Resolve / Silence 1h buttons.

    The request must carry a valid v0 signature made with the app's signing secret
    (ALERTSTREAM_SLACK_SIGNING_SECRET) within 5 minutes; anything else is refused with
    401 and changes nothing.  A valid click becomes a command on the `commands` topic."""

    permissions = {"POST": PUBLIC}  # its signature is its credential

    async def post(self, request: Request) -> Response:
        secret = settings.slack_signing_secret
        if not secret:
            return error(404, "Slack interactivity is not configured")
        body = await request.read()
        try:
            command = parse_interaction(secret, request.headers, body)
        except SlackSignatureError as exc:
            return error(401, str(exc))
        except SlackPayloadError as exc:
            return error(400, str(exc))
        command = {"op": command["action"], "source": "slack", **command}
        tenant = str(command.get("tenant") or "default")
        await send_commands(tenant, [command])
        who = command.get("user") or "someone"
        return json_response(
            {
                "response_type": "ephemeral",
                "replace_original": False,
                "text": f"{command['action']} by {who}: done",
            }
        )


class AckGroup(RuntimeView):
    permissions = {"POST": RESPOND}

    async def post(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return am_error(400, f"invalid JSON: {exc}")
        if not isinstance(body, dict):
            return am_error(400, "expected a JSON object {tenant, group_key, until}")
        tenant = body.get("tenant") or tenant_of(request)
        group_key = body.get("group_key")
        if not isinstance(tenant, str) or not tenant:
            return am_error(400, "tenant: required")
        if not may_act_on(request, tenant):
            return am_error(403, f"tenant {tenant}: not granted")
        if not isinstance(group_key, str) or not group_key:
            return am_error(400, "group_key: required")
        cmd: dict[str, Any] = {
            "op": "ack",
            "tenant": tenant,
            "group_key": group_key,
            "user": str(body.get("user") or ""),
        }
        if body.get("until") is not None:
            try:
                cmd["until"] = parse_time(body["until"], "until")
            except WireError as exc:
                return am_error(400, str(exc))
            if cmd["until"] <= time.time():
                return am_error(400, "until: must be in the future")
        await send_commands(tenant, [cmd])
        return json_response({"status": "success"}, 202)


class Limits(RuntimeView):
    permissions = {"GET": READ}
    every_tenant = True  # the report lists every tenant

    async def get(self, request: Request) -> Response:
        return json_response({"status": "success", "data": limits_report(self.runtime)})


_FP = re.compile(r"^[0-9a-f]{16}$")


class History(RuntimeView):
    permissions = {"GET": READ}

    async def get(self, request: Request, fingerprint: str) -> Response:
        if not _FP.match(fingerprint):
            return am_error(400, "fingerprint: expected 16 hex digits")

        # a fingerprint is the labels' alone: a credential bound to tenants reads the
        # history of an alert its tenant holds; any other answers 404, as an unknown one
        principal, tenant = principal_of(request), tenant_of(request)
        bound = principal is not None and principal.tenants() is not None and tenant

        def local() -> list[dict[str, Any]]:
            if bound and not self.runtime.group_alerts(str(tenant), None, fingerprint):
                return []
            return self.runtime.history(fingerprint)

        events = await gathered(request, local)
        events.sort(key=lambda e: e.get("at", 0))
        if request.headers.get(LOCAL):
            return json_response(events)  # a forwarded request: the bare list
        if bound and not events:
            return am_error(404, f"alert {fingerprint} not found")
        return json_response({"status": "success", "data": events})


ROUTES: dict[str, type[RuntimeView]] = {
    "/api/v1/alerts": Alerts,
    "/api/v1/groups/ack": AckGroup,
    "/api/v1/limits": Limits,
    "/api/v1/alerts/{fingerprint}/history": History,
}
