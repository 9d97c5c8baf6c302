"""The alerts agent: feeds the `alerts` topic into the runtime, and flushes due groups.

Consumes `alerts` (from producers, the HTTP API and rule evaluation); each record is a
batch of alerts that ``AlertRuntime.ingest_record`` decodes, merges into the active
set and routes into groups.  A timer flushes due groups through the notify pipeline
to `notifications.<channel>` (``AlertRuntime.flush``).
"""

from __future__ import annotations

import time
from typing import Any

import faust

from agents.continuity import OffsetGuard
from agents.runtime import AlertRuntime
from models.tracing import input_span


def register(
    app: faust.App, topic: faust.TopicT, runtime: AlertRuntime, tick: float, guard: OffsetGuard
) -> None:
    """``guard`` hands over the records the consumer skipped (``agents/continuity.py``)."""
    name = topic.get_topic_name()
    runtime.bind(name)

    async def handle(message: Any) -> None:
        partition = message.partition
        traces = runtime.traces  # None: tracing off
        for r in await guard.records(name, message):
            with input_span(traces, "alertstream.alerts", r.key, r.headers):
                await runtime.ingest_record(partition, r.key, r.value, time.time())
        guard.handled(name, partition, message.offset)

    @app.agent(topic, name="agents.alerts.process_alerts")
    async def process_alerts(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            await handle(event.message)

    @app.timer(tick, name="agents.alerts.flush_groups")
    async def flush_groups() -> None:
        await runtime.flush(time.time())
