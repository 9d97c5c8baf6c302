"""GDPR erasure and export, and ``/api/v1/status`` (retention and personal data).

- ``GET /api/v1/gdpr/export?tenant=T&subject=user=alice``: everything held about the
  subject (every subject of T without ``subject``), values revealed; answered by the
  worker that owns T (forwarded there).
- ``POST /api/v1/gdpr/erase?tenant=T`` ``{"subject": "user=alice"}`` (``{}``: the whole
  tenant): the owning worker turns the subject into its pseudonyms and puts a
  ``gdpr.erase`` command naming only those on the commands topic, so the command
  itself carries no personal data; ``agents/privacy.py`` applies it.
- ``GET /api/v1/status``: retention in force (per tenant), topic settings on the
  broker, the last collection, and counts of pseudonymised and erased subjects.
"""

from __future__ import annotations

from typing import Any

import faust
import orjson
from aiohttp import web
from faust.web import Request, Response, View

import tables
from agents.audit import AuditLog
from agents.commands import Commands
from agents.notify import ChannelSenders
from agents.privacy import ERASE, Keys, PersonalData
from agents.retention import Retention
from agents.retention import register as enforce_retention
from agents.runtime import AlertRuntime
from app.gather import LOCAL, forward, gathered, owner_url
from app.settings import Settings
from app.web import json_response, principal_of, send_commands, tenant_of
from models.access.permissions import ADMIN, READ
from models.privacy.pseudonyms import Subject


def _error(status: int, reason: str) -> Response:
    return json_response({"status": "error", "error": reason}, status)


def _subject(text: str | None) -> Subject | None:
    return Subject.parse(text) if text else None


def install(
    app: faust.App,
    runtime: AlertRuntime,
    senders: ChannelSenders,
    commands: Commands,
    keys: Keys,
    settings: Settings,
    audit: AuditLog,
) -> PersonalData:
    """Personal data and retention for a worker: the hooks on the alert path and the
    senders (only with ``personal_labels``), the erase command, the retention task and
    the views."""
    config = runtime.config
    labels = config.data_protection.personal_labels
    personal = PersonalData(labels, keys, tables.subjects, tables.history, tables.checkpoint)
    if labels:
        runtime.personal = personal.apply
        senders.reveal = personal.reveal
    commands.handlers[ERASE] = personal.erase
    retention = Retention(config, runtime, tables.history, settings)
    enforce_retention(app, retention)
    _views(app, personal, retention, audit)
    return personal


def _views(app: faust.App, personal: PersonalData, retention: Retention, audit: AuditLog) -> None:
    runtime = retention.runtime

    class Export(View):
        permissions = {"GET": ADMIN}

        async def get(self, request: Request) -> Response:
            tenant = tenant_of(request)
            if not tenant:
                return _error(400, "tenant: required (query parameter or X-Scope-OrgID header)")
            try:
                subject = _subject(request.query.get("subject"))
            except ValueError as exc:
                return _error(400, str(exc))
            found: list[dict[str, Any]] = []
            if request.headers.get(LOCAL) or owner_url(tenant) is None:  # the owner
                found = await personal.export(tenant, subject, runtime)
            if found:  # named by pseudonym: the audit log must not hold the subject
                principal = principal_of(request)
                audit.record(
                    tenant,
                    principal.id if principal else "anonymous",
                    "gdpr.export",
                    ",".join(r["pseudonym"] for r in found),
                    request.remote or "",
                )
            data = await gathered(request, lambda: found)
            if request.headers.get(LOCAL):
                return json_response(data)
            return json_response({"status": "success", "data": data})

    class Erase(View):
        permissions = {"POST": ADMIN}

        async def post(self, request: Request) -> Response:
            tenant = tenant_of(request)
            if not tenant:
                return _error(400, "tenant: required (query parameter or X-Scope-OrgID header)")
            raw = await request.read()
            owner = owner_url(tenant)
            if owner is not None and not request.headers.get(LOCAL):
                status, answer = await forward(owner, request, raw)
                return web.Response(body=answer, status=status, content_type="application/json")
            try:
                body = orjson.loads(raw) if raw.strip() else {}
            except orjson.JSONDecodeError as exc:
                return _error(400, f"invalid JSON: {exc}")
            if not isinstance(body, dict):
                return _error(400, "expected a JSON object")
            try:
                subject = _subject(body.get("subject"))
            except ValueError as exc:
                return _error(400, str(exc))
            principal = principal_of(request)
            cmd: dict[str, Any] = {"op": ERASE, "tenant": tenant}
            cmd["user"] = principal.id if principal else "anonymous"  # the audit's actor
            if subject is not None:
                cmd["tokens"] = await personal.tokens(tenant, subject, runtime)
            await send_commands(tenant, [cmd])
            found = len(cmd["tokens"]) if subject is not None else None
            return json_response({"status": "success", "pseudonyms": found}, 202)

    class Status(View):
        permissions = {"GET": READ}

        async def get(self, request: Request) -> Response:
            p = personal.pseudonyms
            data = {
                "retention": retention.report(tenant_of(request)),
                "personal_data": {
                    "personal_labels": sorted(p.labels),
                    "subjects": len(p),
                    "erased": personal.erased,
                },
            }
            return json_response({"status": "success", "data": data})

    app.page("/api/v1/gdpr/export")(Export)
    app.page("/api/v1/gdpr/erase")(Erase)
    app.page("/api/v1/status")(Status)
