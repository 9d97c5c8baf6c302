"""Traces across the pipeline, one span per batch (OpenTelemetry API; the SDK and its
OTLP exporter are set up by ``app/tracing.py`` only when an endpoint is configured).

A Kafka record carries a batch, so the unit of work is the batch: each record that
crosses a topic carries the W3C ``traceparent`` of the span that produced it in its
headers, and the agent that consumes it opens a child span for the whole record. Work a
timer does later (a window close, a group flush) continues the trace of the last batch
that changed the tenant's state (``TenantTraces``), so a sample or an alert post and the
webhook delivery it leads to are one trace::

    POST /api/v2/alerts -> alertstream.alerts (batch) -> alertstream.flush (tenant,
    channel) -> alertstream.deliver (batch) -> deliver <channel> (each notification)

Off (no endpoint) the agents skip all of this on a boolean per record: no span, no
header, nothing per alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Span, SpanKind

Headers = list[tuple[str, bytes]]
PROPAGATED = ("traceparent", "tracestate")

tracer = trace.get_tracer("alertstream")  # OpenTelemetry's proxy: the SDK's once set up


def headers_now() -> Headers:
    """The current span's context as Kafka record headers."""
    return [(k, v.encode()) for k, v in http_headers_now().items()]


def http_headers_now() -> dict[str, str]:
    """The current span's W3C ``traceparent`` (and ``tracestate``) as HTTP headers; none
    outside a span, so an outgoing request carries one only when tracing is on."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def context_of(headers: Iterable[tuple[str, bytes]] | None) -> otel_context.Context:
    """The trace context a record's headers carry (an empty one if none)."""
    carrier = {
        k.lower(): v.decode() if isinstance(v, bytes) else v
        for k, v in headers or ()
        if k.lower() in PROPAGATED
    }
    return extract(carrier)


def record_span(
    traced: bool, name: str, headers: Iterable[tuple[str, bytes]] | None, **attributes: Any
) -> AbstractContextManager[Any]:
    """``batch_span`` continuing the trace a record's headers carry; nothing when off."""
    return batch_span(name, context_of(headers), **attributes) if traced else nullcontext()


@contextmanager
def batch_span(
    name: str,
    parent: otel_context.Context | None = None,
    kind: SpanKind = SpanKind.CONSUMER,
    **attributes: Any,
) -> Iterator[Span]:
    """A span for one batch, current inside the block (records produced in it carry it)."""
    with tracer.start_as_current_span(
        name,
        context=parent,
        kind=kind,
        attributes={k: v for k, v in attributes.items() if v is not None},
    ) as span:
        yield span


def trace_id_now() -> str | None:
    """The current trace's id as 32 hex digits (for logs), None outside a span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


@contextmanager
def input_span(
    traces: TenantTraces | None,
    name: str,
    key: bytes | None,
    headers: Iterable[tuple[str, bytes]] | None,
) -> Iterator[None]:
    """The span of one input record keyed by tenant: it continues the trace the record's
    headers carry (a record read back too) and, once handled, becomes the tenant's last
    trace, which its timer work continues. Nothing when tracing is off (``traces`` None)."""
    if traces is None:
        yield
        return
    tenant = key.decode() if key else None
    with batch_span(name, context_of(headers), tenant=tenant):
        yield
        if tenant:
            traces.remember(tenant)


class TenantTraces:
    """The trace context of the last batch that changed each tenant's state: later work
    done for the tenant by a timer continues that trace (one dict write per batch)."""

    def __init__(self) -> None:
        self.last: dict[str, otel_context.Context] = {}

    def remember(self, tenant: str) -> None:
        self.last[tenant] = otel_context.get_current()

    def context(self, tenant: str) -> otel_context.Context | None:
        return self.last.get(tenant)
