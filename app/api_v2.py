"""Alertmanager's HTTP API v2 on the worker's web server.

Shapes follow Alertmanager's OpenAPI spec (``api/v2/openapi.yaml``), so Prometheus
(``alerting.alertmanagers``) and ``amtool --alertmanager.url`` work unchanged.  Errors
answer as Alertmanager does: a JSON string with the reason, 400 for bad input.

Tenancy: the ``X-Scope-OrgID`` header (as Cortex and Mimir), else a ``tenant``
label, else ``default``.  Reads that name a tenant are answered by the worker that
owns the tenant's partition, reads without one gather every worker's answer
(``app.gather``).  Writes go to topics: alerts to ``alerts``, silences to
``commands`` (applied by ``agents.commands``).  A posted silence is validated here
first (nothing invalid is produced), and the call returns once this worker's silence
index holds it, so ``amtool silence add`` then ``silence query`` sees it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import yaml
from aiohttp import web
from faust.web import Request, Response

from agents.runtime import AlertRuntime
from app.config.loader import expand_env
from app.faust_app import alerts_topic, send_batch
from app.gather import gathered
from app.importer import ALERTMANAGER_SECTIONS
from app.settings import settings
from app.web import (
    RuntimeView,
    am_error,
    json_response,
    may_act_on,
    send_commands,
    tenant_of,
)
from channels.redaction import URL_KEYS, redact
from models.access.permissions import INGEST, READ, RESPOND
from models.alerting.alert import FIRING, Alert
from models.suppression.matchers import (
    MatcherError,
    compile_regex,
    is_valid_label_name,
    parse_matchers,
)
from models.suppression.silences import EXPIRED, PENDING, Silence, SilenceError, can_update
from models.wire import WireError, format_time

RESOLVE_TIMEOUT = 300.0  # Alertmanager's resolve_timeout default
STARTED = time.time()
VERSION = {
    "branch": "main",
    "buildDate": "",
    "buildUser": "alertstream",
    "goVersion": "python",
    "revision": "",
    "version": "0.25.0-alertstream",
}


def _bool(request: Request, name: str, default: bool = True) -> bool:
    v = request.query.get(name)
    if v is None:
        return default
    if v.lower() in ("true", "1"):
        return True
    if v.lower() in ("false", "0"):
        return False
    raise ValueError(f"{name}: {v!r} is not a boolean")


def _filters(request: Request) -> list:
    out = []
    for f in request.query.getall("filter", []):
        try:
            out.extend(parse_matchers(f))
        except MatcherError as exc:
            raise ValueError(f"bad matcher format: {f}: {exc}") from None
    return out


# --- alerts ---------------------------------------------------------------------------
def _receivers(runtime: AlertRuntime, labels: dict[str, str]) -> list[dict[str, str]]:
    names = dict.fromkeys(r.receiver for r in runtime.dispatcher.root.match(labels))
    return [{"name": n} for n in names]


def gettable(runtime: AlertRuntime, a: Alert, now: float) -> dict[str, Any]:
    silenced, inhibited = runtime.suppressor.silence_status(a.labels, now)
    inhibited = [fp for fp in inhibited if fp != a.fingerprint]
    return {
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": format_time(a.starts_at),
        "endsAt": format_time(a.ends_at),
        "updatedAt": format_time(now),
        "generatorURL": a.generator_url,
        "fingerprint": a.fingerprint,
        "receivers": _receivers(runtime, a.labels),
        "status": {
            "state": "suppressed" if silenced or inhibited else "active",
            "silencedBy": silenced,
            "inhibitedBy": inhibited,
        },
    }


AlertFilter = Callable[[Iterable[Alert], float], list[dict[str, Any]]]


def _alert_filter(runtime: AlertRuntime, request: Request) -> AlertFilter:
    """Alertmanager's filters of ``GET /api/v2/alerts[/groups]``, read from the query
    (ValueError if one is malformed), as a function from live alerts to the gettable
    forms of those the filters keep."""
    matchers = _filters(request)
    silenced, inhibited = _bool(request, "silenced"), _bool(request, "inhibited")
    active, unprocessed = _bool(request, "active"), _bool(request, "unprocessed")
    del unprocessed  # nothing stays unprocessed here: alerts are routed on arrival
    receiver = request.query.get("receiver")
    receiver_re = None
    if receiver:
        try:
            receiver_re = compile_regex(receiver)
        except MatcherError as exc:
            raise ValueError(f"failed to parse receiver param: {exc}") from None
    tenant = tenant_of(request)

    def keep(g: dict[str, Any], a: Alert) -> bool:
        if tenant and a.tenant != tenant:
            return False
        if any(not m.matches(a.labels) for m in matchers):
            return False
        if receiver_re and not any(receiver_re.fullmatch(r["name"]) for r in g["receivers"]):
            return False
        st = g["status"]
        if st["silencedBy"] and not silenced:
            return False
        if st["inhibitedBy"] and not inhibited:
            return False
        return not (st["state"] == "active" and not active)

    def shown(alerts: Iterable[Alert], now: float) -> list[dict[str, Any]]:
        gettables = ((gettable(runtime, a, now), a) for a in alerts)
        return [g for g, a in gettables if keep(g, a)]

    return shown


async def _filtered_answer(
    runtime: AlertRuntime,
    request: Request,
    local: Callable[[AlertFilter, float], list[Any]],
    key: Callable[[Any], Any] | None = None,
) -> Response:
    """The alert filters of the query (400 if one is malformed), then ``local(filter,
    now)`` answered by the workers that hold the alerts, sorted by ``key`` if given."""
    try:
        filtered = _alert_filter(runtime, request)
    except ValueError as exc:
        return am_error(400, str(exc))
    data = await gathered(request, lambda: local(filtered, time.time()))
    if key is not None:
        data.sort(key=key)
    return json_response(data)


def _is_live(a: Alert, now: float) -> bool:
    return a.status == FIRING and not a.resolved_at(now)


def _live(runtime: AlertRuntime, now: float) -> Iterable[Alert]:
    for a in runtime.live_alerts():
        if _is_live(a, now):
            yield a


def parse_postable(items: Any, tenant: str | None, now: float) -> list[Alert]:
    """PostableAlerts -> Alerts; raises ValueError with every reason (nothing accepted)."""
    if not isinstance(items, list):
        raise ValueError("alerts: expected a JSON array of alerts")
    out: list[Alert] = []
    errors: list[str] = []
    for i, obj in enumerate(items):
        try:
            if not isinstance(obj, dict):
                raise WireError("expected a JSON object")
            labels = obj.get("labels")
            if not isinstance(labels, dict) or not labels:
                raise WireError("at least one label pair required")
            for k, v in labels.items():
                if not is_valid_label_name(str(k)):
                    raise WireError(f'invalid label set: invalid name "{k}"')
                if not isinstance(v, str) or not v:
                    raise WireError(f'invalid label set: invalid value for "{k}"')
            a = Alert.from_wire(obj, tenant, now)
            if obj.get("startsAt") and obj.get("endsAt") and a.ends_at < a.starts_at:
                raise WireError("start time must be before end time")
            if not obj.get("endsAt"):
                a.ends_at = now + RESOLVE_TIMEOUT  # Alertmanager's resolve_timeout
            out.append(a)
        except WireError as exc:
            errors.append(f"{i}: {exc}")
    if errors:
        raise ValueError("; ".join(errors))
    return out


class AlertsV2(RuntimeView):
    permissions = {"GET": READ, "POST": INGEST}

    async def post(self, request: Request) -> Response:
        now = time.time()
        try:
            items = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return am_error(400, f"invalid JSON: {exc}")
        try:
            alerts = parse_postable(items, tenant_of(request), now)
        except ValueError as exc:
            return am_error(400, str(exc))
        if refused := sorted({a.tenant for a in alerts if not may_act_on(request, a.tenant)}):
            return am_error(403, f"tenant {', '.join(refused)}: not granted")
        by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for a in alerts:
            by_tenant[a.tenant].append(a.to_wire())
        for tenant, batch in by_tenant.items():
            await send_batch(alerts_topic, tenant.encode(), batch)
        return web.Response(status=200)

    async def get(self, request: Request) -> Response:
        def local(filtered: AlertFilter, now: float) -> list[dict[str, Any]]:
            return filtered(_live(self.runtime, now), now)

        return await _filtered_answer(self.runtime, request, local, key=lambda g: g["fingerprint"])


class AlertGroupsV2(RuntimeView):
    permissions = {"GET": READ}

    async def get(self, request: Request) -> Response:
        def local(filtered: AlertFilter, now: float) -> list[dict[str, Any]]:
            out = []
            dispatcher = self.runtime.dispatcher
            for group in list(dispatcher.groups.values()):
                route = dispatcher.route_of(group)
                members = [group.members[fp] for fp in sorted(group.members)]
                shown = filtered([a for a in members if _is_live(a, now)], now)
                if shown and route is not None:
                    out.append(
                        {
                            "labels": group.labels,
                            "receiver": {"name": route.receiver},
                            "alerts": shown,
                        }
                    )
            return out

        return await _filtered_answer(self.runtime, request, local)


# --- silences -------------------------------------------------------------------------
def _silence_order(s: Silence, now: float) -> tuple[int, float]:
    st = s.state(now)
    if st == "active":
        return (0, s.ends_at)
    if st == PENDING:
        return (1, s.starts_at)
    return (2, -s.ends_at)


async def _visible(
    runtime: AlertRuntime, sid: str, updated_at: float, timeout: float = 10.0
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = runtime.suppressor.silences.get(sid)
        if s is not None and s.updated_at >= updated_at:
            return True
        await asyncio.sleep(0.02)
    return False


class SilencesV2(RuntimeView):
    permissions = {"GET": READ, "POST": RESPOND}

    async def get(self, request: Request) -> Response:
        try:
            matchers = _filters(request)
        except ValueError as exc:
            return am_error(400, str(exc))
        now = time.time()
        found = self.runtime.suppressor.silences.query(None, matchers, now, tenant_of(request))
        found.sort(key=lambda s: _silence_order(s, now))
        return json_response([s.to_api(now) for s in found])

    async def post(self, request: Request) -> Response:
        now = time.time()
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return am_error(400, f"invalid JSON: {exc}")
        tenant = tenant_of(request) or ""
        try:
            s = Silence.from_api(body, now, tenant)
            s.validate_new(now, self.runtime.suppressor.intervals)
        except SilenceError as exc:
            return am_error(400, str(exc))
        commands: list[dict[str, Any]] = []
        index = self.runtime.suppressor.silences
        prev = index.get(s.id) if s.id else None
        if prev is not None and (
            (tenant and prev.tenant != tenant) or not may_act_on(request, prev.tenant)
        ):
            prev = None  # another tenant's silence: as if it did not exist
        if s.id and prev is None:
            return am_error(404, f"silence {s.id} not found")
        s.updated_at = now
        if prev is None or not can_update(prev, s, now):
            if prev is not None and prev.state(now) != EXPIRED:
                commands.append({"op": "silence.expire", "id": prev.id, "at": now})
            s.id = str(uuid.uuid4())
            s.starts_at = max(s.starts_at, now)
        commands.append({"op": "silence.put", "silence": s.to_dict()})
        await send_commands(tenant or "default", commands)
        if not await _visible(self.runtime, s.id, now):
            return am_error(500, "silence not applied in time; it may still be applied")
        return json_response({"silenceID": s.id})


class SilenceV2(RuntimeView):
    permissions = {"GET": READ, "DELETE": RESPOND}

    def silence(self, request: Request, silence_id: str) -> Silence | None:
        """The silence, None if unknown or another tenant's (its existence not told)."""
        s = self.runtime.suppressor.silences.get(silence_id)
        tenant = tenant_of(request)
        if s is None or (tenant and s.tenant != tenant) or not may_act_on(request, s.tenant):
            return None
        return s

    async def get(self, request: Request, silence_id: str) -> Response:
        s = self.silence(request, silence_id)
        if s is None:
            return am_error(404, f"silence {silence_id} not found")
        return json_response(s.to_api(time.time()))

    async def delete(self, request: Request, silence_id: str) -> Response:
        now = time.time()
        s = self.silence(request, silence_id)
        if s is None:
            return am_error(404, f"silence {silence_id} not found")
        if s.state(now) == EXPIRED:
            return am_error(400, f"silence {silence_id} already expired")
        await send_commands(
            s.tenant or "default", [{"op": "silence.expire", "id": s.id, "at": now}]
        )
        await _visible(self.runtime, s.id, now)
        return web.Response(status=200)


# --- status, receivers ----------------------------------------------------------------


def original_config() -> str:
    """The Alertmanager sections of pipelines.yaml as written, masked as everything shown
    is (channels.redaction); ``${VAR}`` in a URL is expanded first so that the URL keeps
    its scheme and host."""
    try:
        raw = yaml.safe_load(settings.pipelines.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return ""
    out = {k: raw[k] for k in ALERTMANAGER_SECTIONS if k in raw}
    return yaml.safe_dump(redact(_expand_urls(out)), sort_keys=False)


def _expand_urls(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: expand_env(v) if k in URL_KEYS and isinstance(v, str) else _expand_urls(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_expand_urls(v) for v in node]
    return node


def limits_report(runtime: AlertRuntime) -> dict[str, Any]:
    cfg = runtime.config.limits
    active_count, limit_stats = runtime.active_count, runtime.limit_stats
    return {
        "max_active_alerts": cfg.max_active_alerts,
        "max_notifications_per_minute": cfg.max_notifications_per_minute,
        "tenants": {
            t: {"active_alerts": active_count.get(t, 0), **dict(limit_stats.get(t, {}))}
            for t in sorted(set(active_count) | set(limit_stats))
        },
    }


class StatusV2(RuntimeView):
    permissions = {"GET": READ}

    async def get(self, request: Request) -> Response:
        return json_response(
            {
                "cluster": {"name": "", "status": "disabled", "peers": []},
                "config": {"original": original_config()},
                "versionInfo": VERSION,
                "uptime": format_time(STARTED),
                "limits": limits_report(self.runtime),  # our addition
            }
        )


class ReceiversV2(RuntimeView):
    permissions = {"GET": READ}

    async def get(self, request: Request) -> Response:
        config = self.runtime.config_for(tenant_of(request) or "")  # a tenant's own, if any
        return json_response([{"name": r.name} for r in config.receivers])


ROUTES: dict[str, type[RuntimeView]] = {
    "/api/v2/alerts": AlertsV2,
    "/api/v2/alerts/groups": AlertGroupsV2,
    "/api/v2/silences": SilencesV2,
    "/api/v2/silence/{silence_id}": SilenceV2,
    "/api/v2/status": StatusV2,
    "/api/v2/receivers": ReceiversV2,
}
