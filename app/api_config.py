"""HTTP views of per-tenant configs: ``/api/v1/config/{tenant}`` (GET, PUT), its
versions, a dry-run diff and a rollback.

A PUT body (YAML or JSON: a tenant's rules, route, receivers, inhibitions, time
intervals) is validated exactly as ``alertstream validate`` validates a file; a bad one
answers 422 with every error and produces nothing.  A good one is produced to the
``config`` topic as the next version, and the answer waits (a few seconds at most) until
this worker has installed it, so ``applied: true`` means the swap has happened here
(every worker reads the same topic).  A posted config sees no environment variables.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from faust.web import Request, Response

from agents.sealing import sealed_version
from app.config.loader import ConfigError
from app.config.schema import PipelinesConfig
from app.config.tenants import ConfigVersion, TenantConfigs, describe_changes, text_diff
from app.faust_app import config_topic
from app.web import RuntimeView, json_response
from models.access.permissions import EDIT, READ

APPLY_WAIT = 10.0  # seconds a PUT waits for this worker to install its version
MAX_BODY = 1024 * 1024


def _error(status: int, reason: str, errors: list[str] | None = None) -> Response:
    body: dict[str, Any] = {"status": "error", "error": reason}
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status)


async def _validated(
    configs: TenantConfigs, tenant: str, request: Request
) -> tuple[str, PipelinesConfig] | Response:
    """The body's text and the config it validates to, or the error answer (422 with
    every error of an invalid config)."""
    body = await request.read()
    if len(body) > MAX_BODY:
        return _error(413, f"a config is at most {MAX_BODY} bytes")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return _error(400, "the body is not UTF-8 text")
    try:
        return text, configs.validate(tenant, text)
    except ConfigError as exc:
        return _error(422, "invalid config; nothing was applied", exc.errors)


async def produce(configs: TenantConfigs, version: ConfigVersion) -> bool:
    """Produce a version and wait until this worker has installed it."""
    sealed = await sealed_version(version.tenant, version.to_wire())
    await config_topic.send(key=version.tenant.encode(), value=sealed)
    deadline = time.monotonic() + APPLY_WAIT
    while time.monotonic() < deadline:
        current = configs.versions.get(version.tenant)
        if current is not None and current.version >= version.version:
            return current.hash == version.hash
        await asyncio.sleep(0.05)
    return False


class TenantConfig(RuntimeView):
    permissions = {"GET": READ, "PUT": EDIT}

    async def get(self, request: Request, tenant: str) -> Response:
        configs = self.runtime.configs
        current = configs.versions.get(tenant)
        data: dict[str, Any] = {"tenant": tenant}
        if current is not None:
            data |= {**current.summary(), "text": current.text}
        elif tenant in configs.files:
            data |= {"version": 0, "source": configs.files[tenant]}
        else:
            data |= {"version": 0, "source": "default (pipelines.yaml)"}
        if tenant in configs.refused:
            version, errors = configs.refused[tenant]
            data["refused"] = {"version": version, "errors": errors}
        return json_response({"status": "success", "data": data})

    async def put(self, request: Request, tenant: str) -> Response:
        configs = self.runtime.configs
        found = await _validated(configs, tenant, request)
        if not isinstance(found, tuple):
            return found
        text, new = found
        changes = describe_changes(configs.config_for(tenant), new)
        return await _apply(configs, tenant, text, "api", changes)


async def _apply(
    configs: TenantConfigs, tenant: str, text: str, source: str, changes: list[str]
) -> Response:
    current = configs.versions.get(tenant)
    version = configs.next_version(tenant, text, source, time.time())
    if current is not None and current.hash == version.hash:
        data = {"tenant": tenant, **current.summary(), "applied": True, "changes": []}
        return json_response({"status": "success", "data": data})
    applied = await produce(configs, version)
    data = {"tenant": tenant, **version.summary(), "applied": applied, "changes": changes}
    return json_response({"status": "success", "data": data}, 200 if applied else 202)


class TenantConfigVersions(RuntimeView):
    permissions = {"GET": READ}

    async def get(self, request: Request, tenant: str) -> Response:
        current = self.runtime.configs.versions.get(tenant)
        found = [] if current is None else [current.summary(), *current.history]
        data = [{k: v for k, v in d.items() if k != "text"} for d in found]
        return json_response({"status": "success", "data": data})


class TenantConfigDiff(RuntimeView):
    permissions = {"POST": EDIT}

    async def post(self, request: Request, tenant: str) -> Response:
        """What a PUT of the body would change (nothing is applied)."""
        configs = self.runtime.configs
        found = await _validated(configs, tenant, request)
        if not isinstance(found, tuple):
            return found
        text, new = found
        current = configs.versions.get(tenant)
        running = current.text if current is not None else ""
        name = f"{tenant} v{current.version}" if current is not None else f"{tenant} (default)"
        data = {
            "changes": describe_changes(configs.config_for(tenant), new),
            "diff": text_diff(running, text, name, f"{tenant} (new)"),
        }
        return json_response({"status": "success", "data": data})


class TenantConfigRollback(RuntimeView):
    permissions = {"POST": EDIT}

    async def post(self, request: Request, tenant: str) -> Response:
        """Apply the previous version's text again, as a new version."""
        configs = self.runtime.configs
        current = configs.versions.get(tenant)
        if current is None or not current.history:
            return _error(409, f"tenant {tenant}: no previous version to roll back to")
        previous = current.history[0]
        try:
            new = configs.validate(tenant, previous["text"])
        except ConfigError as exc:  # the worker-wide settings changed since
            return _error(422, f"version {previous['version']} no longer validates", exc.errors)
        changes = describe_changes(configs.config_for(tenant), new)
        source = f"rollback to v{previous['version']}"
        return await _apply(configs, tenant, previous["text"], source, changes)


ROUTES: dict[str, type[RuntimeView]] = {
    "/api/v1/config/{tenant}": TenantConfig,
    "/api/v1/config/{tenant}/versions": TenantConfigVersions,
    "/api/v1/config/{tenant}/diff": TenantConfigDiff,
    "/api/v1/config/{tenant}/rollback": TenantConfigRollback,
}
