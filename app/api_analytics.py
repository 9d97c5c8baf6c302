"""HTTP API of analytics: windows, SLA reports and recommendations.

- ``GET /api/v1/analytics?tenant=&by=rule&from=&to=``: per value of ``by`` (tenant,
  rule, severity, team, receiver, route, policy) the counts, rates and MTTA/MTTR
  percentiles over [from, to) (default: the last 24 hours), and the volume trend
  against the same range a week earlier. Without a tenant, every tenant's windows
  are gathered from every worker and merged (the sketches merge exactly).
- ``GET /api/v1/reports/sla?tenant=&period=2026-11&format=json|csv|html``
- ``GET /api/v1/recommendations?tenant=``: noisy and flapping rules, groups that
  arrive together, each with its evidence and expected reduction (last 30 days).

A tenant's reads are answered by the worker that owns it (``app/gather.py``). Bad
parameters: 400 listing every reason.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import faust
from aiohttp import web
from faust.web import Request, Response, View

import tables
from agents import analytics as analytics_agent
from agents.analytics import Analytics
from agents.commands import Commands
from agents.continuity import OffsetGuard
from app.config.analytics import TenantSpecs
from app.config.tenants import TenantConfigs
from app.faust_app import history_topic, receipts_topic
from app.gather import LOCAL, gathered
from app.web import json_response, tenant_of
from models.access.permissions import READ
from models.analytics import query, report, sla
from models.wire import WireError, parse_time

DEFAULT_RANGE = 86400.0
FORMATS = {"json", "csv", "html"}


def _error(reasons: list[str]) -> Response:
    return json_response({"status": "error", "error": "; ".join(reasons), "errors": reasons}, 400)


def _time(raw: str | None, name: str, default: float, errors: list[str]) -> float:
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return parse_time(raw, name)
    except WireError as exc:
        errors.append(str(exc))
        return default


class _AnalyticsView(View):
    permissions = {"GET": READ}
    analytics: Analytics | None  # None: no analytics section in the config

    async def get(self, request: Request) -> Response:
        if self.analytics is None:
            return json_response(
                {"status": "error", "error": "analytics is not configured (no analytics: section)"},
                404,
            )
        return await self.answer(request, self.analytics)

    async def answer(self, request: Request, analytics: Analytics) -> Response:
        raise NotImplementedError


class AnalyticsView(_AnalyticsView):
    async def answer(self, request: Request, analytics: Analytics) -> Response:
        q = request.query
        errors: list[str] = []
        dim = q.get("by") or "rule"
        if (why := query.check_dimension(dim)) is not None:
            errors.append(why)
        now = time.time()
        to = _time(q.get("to"), "to", now, errors)
        frm = _time(q.get("from"), "from", to - DEFAULT_RANGE, errors)
        if not errors and frm >= to:
            errors.append("from: must be before to")
        if errors:
            return _error(errors)
        tenant = tenant_of(request)
        rows = await gathered(request, lambda: analytics.rows(tenant, dim, frm, to))
        if request.headers.get(LOCAL):
            return json_response(rows)
        rows = query.combine(dim, rows)
        data = {"tenant": tenant, "by": dim, "from": frm, "to": to, "rows": rows}
        return json_response({"status": "success", "data": data})


class SlaReportView(_AnalyticsView):
    async def answer(self, request: Request, analytics: Analytics) -> Response:
        q = request.query
        errors: list[str] = []
        tenant = tenant_of(request)
        if not tenant:
            errors.append("tenant: required (query parameter or X-Scope-OrgID header)")
        period = q.get("period") or ""
        try:
            sla.period_range(period)
        except ValueError as exc:
            errors.append(str(exc))
        fmt = q.get("format") or "json"
        if fmt not in FORMATS:
            errors.append(f"format: one of {', '.join(sorted(FORMATS))}")
        if errors:
            return _error(errors)
        assert tenant is not None
        found = await gathered(request, lambda: [analytics.sla_report(tenant, period, time.time())])
        if request.headers.get(LOCAL):
            return json_response(found)
        return render(found[0], fmt)


def render(data: dict[str, Any], fmt: str) -> Response:
    if fmt == "csv":
        return web.Response(text=report.to_csv(data), content_type="text/csv")
    if fmt == "html":
        return web.Response(text=report.to_html(data), content_type="text/html")
    return json_response({"status": "success", "data": data})


class RecommendationsView(_AnalyticsView):
    async def answer(self, request: Request, analytics: Analytics) -> Response:
        tenant = tenant_of(request)
        if not tenant:
            return _error(["tenant: required (query parameter or X-Scope-OrgID header)"])
        found = await gathered(request, lambda: analytics.recommendations(tenant, time.time()))
        if request.headers.get(LOCAL):
            return json_response(found)
        return json_response({"status": "success", "data": found})


def learned(
    configs: TenantConfigs, tenant: str, now: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The tenant's static threshold rules, and the bands its series learned on this
    worker (auto-threshold bands, anomaly detectors' expected ranges), each with the
    metric it watches: what ``recommend.learned_band`` compares."""
    from agents.evaluate import learned_models  # the metrics agent's models

    specs = [r.to_spec() for r in configs.config_for(tenant).rules]
    metric_of = {s.alert: s.metric for s in specs if getattr(s, "metric", None)}
    rules = [
        {"rule": s.alert, "metric": s.metric, "op": s.op, "threshold": s.threshold}
        for s in specs
        if getattr(s, "kind", "") == "threshold" and getattr(s, "op", None) is not None
    ]
    bands = [
        {"metric": metric_of[m["rule"]], "labels": m["labels"], "band": band}
        for m in learned_models(tenant, now)
        if m["rule"] in metric_of and (band := m.get("band") or m.get("expected_range"))
    ]
    return rules, bands


ROUTES: dict[str, type[_AnalyticsView]] = {
    "/api/v1/analytics": AnalyticsView,
    "/api/v1/reports/sla": SlaReportView,
    "/api/v1/recommendations": RecommendationsView,
}


def start(
    app: faust.App, configs: TenantConfigs, commands: Commands, broker: str
) -> Analytics | None:
    """The analytics agent (if pipelines.yaml has an ``analytics:`` section) and the
    views; each tenant's own SLA targets and business hours follow its config."""
    analytics = None
    config = configs.base
    if config.analytics is not None:
        specs = TenantSpecs(config)
        configs.subscribe(specs.swap)
        for tenant in configs.tenants():  # the tenant files
            specs.swap(tenant, configs.config_for(tenant), time.time())
        analytics = Analytics(
            specs,
            config.analytics.thresholds(),
            tables.analytics,
            tables.checkpoint,
            app,
            partial(learned, configs),
        )
        guard = OffsetGuard(app, tables.analytics, broker)  # offsets beside the windows
        topics = {analytics_agent.HISTORY: history_topic, analytics_agent.RECEIPTS: receipts_topic}
        analytics_agent.register(app, analytics, topics, commands, guard)
    for path, view in ROUTES.items():
        app.page(path)(type(view.__name__, (view,), {"analytics": analytics}))
    return analytics
