"""Tracing set-up: OpenTelemetry's SDK exporting over OTLP/HTTP, only when an endpoint is
configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``;
Jaeger and Tempo accept OTLP), and a server span around every HTTP write, so an alert
post or a sample batch starts the trace its records carry (``models/tracing.py``).

Without an endpoint nothing is set up: the API's proxy tracer stays a no-op and the
agents skip tracing on one boolean per record.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

import faust
from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from app.settings import Settings
from models.tracing import batch_span, context_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
READS = frozenset({"GET", "HEAD", "OPTIONS"})  # reads start no pipeline work: no span


def setup(app: faust.App, settings: Settings) -> bool:
    """Export spans to ``settings.otlp_endpoint`` (batched, in a background thread) and
    trace HTTP writes; False, and nothing done, when no endpoint is configured."""
    if not settings.otlp_endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", "alertstream"),
            "service.instance.id": f"{settings.web_host}:{settings.web_port}",
        }
    )
    provider = TracerProvider(resource=resource)  # flushed at exit (shutdown_on_exit)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(settings.otlp_endpoint)))
    trace.set_tracer_provider(provider)
    app.web.web_app.middlewares.append(http_spans)  # type: ignore[attr-defined]
    return True


@web.middleware
async def http_spans(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A server span per write request, continuing the caller's ``traceparent``."""
    if request.method in READS:
        return await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else request.path
    with batch_span(
        f"{request.method} {route}",
        context_of(request.headers.items()),
        SpanKind.SERVER,
        **{"http.request.method": request.method, "url.path": request.path},
    ) as span:
        response = await handler(request)
        span.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        return response
