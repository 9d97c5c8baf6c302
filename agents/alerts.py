"""The alerts agent: feeds the `alerts` topic into the runtime, and flushes due groups.

Consumes `alerts` (from producers, the HTTP API and rule evaluation); each record is a
batch of alerts that ``AlertRuntime.ingest_record`` decodes, merges into the active
set and routes into groups.  A timer flushes due groups through the notify pipeline
to `notifications.<channel>` (``AlertRuntime.flush``).
"""

from __future__ import annotations

import time

import faust

from agents.continuity import OffsetGuard
from agents.runtime import AlertRuntime


def register(
    app: faust.App, topic: faust.TopicT, runtime: AlertRuntime, tick: float, guard: OffsetGuard
) -> None:
    """``guard`` hands over the records the consumer skipped (``agents/continuity.py``)."""
    name = topic.get_topic_name()
    runtime.bind(name)

    @app.agent(topic, name="agents.alerts.process_alerts")
    async def process_alerts(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            partition = event.message.partition
            for r in await guard.records(name, event.message):
                await runtime.ingest_record(partition, r.key, r.value, time.time())
            guard.handled(name, partition, event.message.offset)

    @app.timer(tick, name="agents.alerts.flush_groups")
    async def flush_groups() -> None:
        await runtime.flush(time.time())
