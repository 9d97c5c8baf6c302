"""Trace context across batches: Kafka headers carry it, a timer's later work continues
a tenant's trace, logs inside a span name its trace (SDK in-memory exporter: a unit
test; tests/app/test_observability_e2e.py exports to a real OTLP receiver)."""

from __future__ import annotations

import logging

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from models.logs import JsonFormatter
from models.tracing import TenantTraces, batch_span, context_of, headers_now


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # once per process: the proxy tracer resolves to it
    return exporter


def by_name(spans: InMemorySpanExporter) -> dict:
    return {s.name: s for s in spans.get_finished_spans()}


def test_a_record_s_headers_carry_the_producing_batch_into_the_consuming_one(spans):
    spans.clear()
    with batch_span("produce"):
        headers = headers_now()
    assert [k for k, _ in headers] == ["traceparent"] and isinstance(headers[0][1], bytes)
    with batch_span("consume", context_of(headers), tenant="acme", skipped=None):
        pass
    with batch_span("unrelated", context_of(None)):
        pass
    got = by_name(spans)
    assert got["consume"].context.trace_id == got["produce"].context.trace_id
    assert got["consume"].parent.span_id == got["produce"].context.span_id
    assert dict(got["consume"].attributes) == {"tenant": "acme"}  # None attributes left out
    assert got["unrelated"].parent is None
    assert got["unrelated"].context.trace_id != got["produce"].context.trace_id


def test_a_timer_continues_the_trace_of_the_tenant_s_last_batch(spans):
    spans.clear()
    traces = TenantTraces()
    for tenant in ("acme", "globex"):
        with batch_span(f"ingest {tenant}"):
            traces.remember(tenant)
    with batch_span("flush acme", traces.context("acme")):
        pass
    with batch_span("flush nobody", traces.context("initech")):
        pass
    got = by_name(spans)
    assert got["flush acme"].parent.span_id == got["ingest acme"].context.span_id
    assert got["flush nobody"].parent is None


def test_an_event_logged_inside_a_span_names_its_trace(spans):
    fmt = JsonFormatter()

    def event() -> dict:
        r = logging.LogRecord("agents.alerts", logging.INFO, __file__, 1, "x", (), None)
        return orjson.loads(fmt.format(r))

    with batch_span("batch") as span:
        inside = event()
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "trace_id" not in event()
