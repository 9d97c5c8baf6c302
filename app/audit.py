"""The worker's audit: the chaining agent wired to what it records, and every mutating
HTTP request.

The HTTP hook is an aiohttp middleware placed outside access control, so it sees
refusals (401, 403) as well as what the views answered, and records who (the
principal's credential id, ``anonymous`` when refused before authentication), what
(method and path, a signed action link's token as a digest), the tenant, the client
address and the status. Ingestion (views declaring INGEST: alerts, samples, events) is
data, not an action, and is recorded only when refused.

CLI commands are recorded by ``app/audit_cli.py``.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from aiohttp import web

from agents import audit as audit_agent
from agents.audit import AuditChains, AuditLog
from agents.commands import Commands
from agents.continuity import OffsetGuard
from agents.escalation import Escalations
from app.faust_app import audit_checkpoints_topic, audit_requests_topic, audit_topic
from app.settings import Settings
from app.web import PERMISSION, principal_of, tenant_of
from models.access.permissions import INGEST
from models.audit.entry import GLOBAL
from tables import protection
from tables.audit_key import key_path, load_or_create_key
from tables.store import Checkpoint, PartitionStore

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSED = frozenset({401, 403})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def target_of(request: web.Request) -> str:
    """The request's path, a capability in it (an action link's signed token) replaced
    by a digest: the log keeps which link was used, not a link that still works."""
    path = request.path
    token = request.match_info.get("token")
    if token:
        path = path.replace(token, "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:16])
    return path


def outcome_of(status: int) -> str:
    return "ok" if status < 400 else "denied" if status in REFUSED else "error"


def middleware(audit: AuditLog) -> Any:
    @web.middleware
    async def audit_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in MUTATING or request.match_info.http_exception is not None:
            return await handler(request)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            if status in REFUSED or request.get(PERMISSION) != INGEST:
                principal = principal_of(request)
                audit.record(
                    tenant_of(request),
                    principal.id if principal else "anonymous",
                    f"http.{request.method.lower()}",
                    target_of(request),
                    request.remote or "",
                    outcome_of(status),
                    {"status": status},
                )

    return audit_requests


def install(
    app: faust.App,
    settings: Settings,
    checkpoint: Checkpoint,
    store: PartitionStore,
    guard: OffsetGuard,
    commands: Commands,
    escalations: Escalations,
) -> AuditLog:
    """The worker's audit: the chaining agent and its checkpoint timer, the HTTP hook
    (outermost middleware: refusals included), applied commands, escalation actions,
    and this worker's config load (its SIGHUP reloads: ``AuditLog.config_reloaded``,
    appended to ``agents/config_updates.register``'s observers by the worker)."""
    names = (audit_requests_topic, audit_topic, audit_checkpoints_topic)
    chains = AuditChains(
        app,
        store,
        settings,
        tuple(t.get_topic_name() for t in names),  # type: ignore[arg-type]
        load_or_create_key(key_path(settings)),
        protection,
    )
    audit_agent.register(
        app, audit_requests_topic, chains, checkpoint, guard, settings.audit_checkpoint_every
    )
    audit = AuditLog(checkpoint, audit_requests_topic.get_topic_name(), protection)
    app.web.web_app.middlewares.insert(0, middleware(audit))
    commands.observers.append(audit.after_command)
    escalations.on_actions.append(audit.escalation_actions)

    @app.task
    async def config_loaded() -> None:  # once the worker starts with its pipelines file
        host = socket.gethostname()
        audit.record(GLOBAL, "worker", "config.load", str(settings.pipelines), host)

    return audit
