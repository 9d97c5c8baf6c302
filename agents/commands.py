"""The commands agent: silences, acknowledgements and Slack button clicks.

Consumes `commands` (keyed by tenant, a JSON batch per record), so the worker that
owns a tenant's partition applies its commands next to that tenant's alert groups.
Every command is validated again here (a producer other than our API may write to
the topic); an invalid one goes to `dlq` with the reason, and nothing of it reaches
a table.  Commands::

    {"op": "silence.put", "silence": <Silence.to_dict()>}      # id set by the API
    {"op": "silence.expire", "id": "...", "at": <epoch s>}
    {"op": "ack", "tenant": "...", "group_key": "...", "until": <epoch s>, "user": "..."}
    # the Slack button shape (channels/slack_interactions.py):
    {"action": "ack" | "resolve" | "silence", "tenant": "...", "group_key": "..." | null,
     "fingerprint": "..." | null, "user": "...", "duration": <seconds> | null}

Silences go to the `silences` table (its changelog is what every worker's
``replicate_silences`` tails) and into this worker's index at once.  Expired
silences are deleted from the table after the retention (``gc_silences``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import faust

from agents.continuity import OffsetGuard
from agents.dlq import dead_letters, raw_reject
from agents.runtime import AlertRuntime
from models.alerting.alert import FIRING, RESOLVED
from models.suppression.matchers import EQ, Matcher
from models.suppression.silences import EXPIRED, Silence, SilenceError
from models.tracing import input_span
from models.wire import WireError, decode_batch

log = logging.getLogger(__name__)


class CommandError(ValueError):
    pass


def _number(d: dict[str, Any], key: str) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise CommandError(f"{key}: expected a number")
    return float(v)


class Commands:
    """Applies commands to the runtime: one handler per ``op``."""

    def __init__(self, runtime: AlertRuntime) -> None:
        self.runtime = runtime
        self.handlers: dict[str, Callable[[int, dict[str, Any], float], Awaitable[None]]] = {
            "silence.put": self.silence_put,
            "silence.expire": self.silence_expire,
            "ack": self.ack,
            "resolve": self.resolve,
            "silence": self.silence_from_button,
        }
        # told of every applied command (escalation chains: agents/escalation.py), which
        # may also add handlers for ops of their own
        self.observers: list[Callable[[int, dict[str, Any], float], Awaitable[None]]] = []

    async def apply(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        op = cmd.get("op") or cmd.get("action")
        handler = self.handlers.get(op) if isinstance(op, str) else None
        if handler is None:
            raise CommandError(f"unknown command {op!r}")
        await handler(partition, cmd, now)
        for observe in self.observers:
            await observe(partition, cmd, now)

    # --- silences -----------------------------------------------------------------------
    def put_silence(self, partition: int, s: Silence) -> None:
        s.validate()
        suppressor = self.runtime.suppressor
        suppressor.table.put(partition, s.id, s.to_dict())
        suppressor.apply_silence(partition, s.id, s.to_dict())

    async def silence_put(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        try:
            s = Silence.from_dict(cmd["silence"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CommandError(f"silence: unreadable ({exc})") from None
        if not s.id:
            raise CommandError("silence: id required")
        self.put_silence(partition, s)

    async def silence_expire(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        sid = cmd.get("id")
        if not isinstance(sid, str) or not sid:
            raise CommandError("id: required")
        at = float(cmd.get("at") or now)
        suppressor = self.runtime.suppressor
        s = suppressor.silences.get(sid)
        if s is None:
            raise CommandError(f"silence {sid} not found")
        if s.state(at) == EXPIRED:
            return  # already expired: idempotent
        s = replace(s)
        if at < s.starts_at:
            s.starts_at = at
        s.ends_at = at
        s.updated_at = at
        self.put_silence(suppressor.silence_partition.get(sid, partition), s)

    # --- alert groups (the API's ack and Slack's buttons) --------------------------------
    @staticmethod
    def _target(cmd: dict[str, Any]) -> tuple[str, str | None, str | None, str]:
        tenant = cmd.get("tenant")
        if not isinstance(tenant, str) or not tenant:
            raise CommandError("tenant: required")
        group_key, fp = cmd.get("group_key"), cmd.get("fingerprint")
        if not group_key and not fp:
            raise CommandError("group_key or fingerprint: required")
        return tenant, group_key, fp, str(cmd.get("user") or "")

    async def ack(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        tenant, group_key, fp, user = self._target(cmd)
        runtime = self.runtime
        if group_key:
            keys = [group_key]
        else:
            keys = [g.key for g in runtime.dispatcher.groups_of(fp or "") if g.tenant == tenant]
        if cmd.get("until") is not None:
            until = _number(cmd, "until")
        elif cmd.get("duration") is not None:
            until = now + _number(cmd, "duration")
        else:
            until = now + runtime.config.ack_default_duration
        n = sum(runtime.nflog.acknowledge(tenant, k, until) for k in keys)
        runtime.persist_dispatch()
        log.info("ack %s/%s by %s until %.0f: %d log entries", tenant, keys, user, until, n)
        if not n:
            log.warning(
                "ack %s/%s matched no notification log entry; the tenant has %s",
                tenant,
                keys,
                runtime.nflog.keys_of(tenant)[:5],
            )

    async def resolve(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        tenant, group_key, fp, user = self._target(cmd)
        runtime = self.runtime
        alerts = [a for a in runtime.group_alerts(tenant, group_key, fp) if a.status == FIRING]
        resolved = [a.replace(status=RESOLVED, ends_at=now) for a in alerts]
        changed, _ = runtime.alert_sets[partition].merge(resolved, now)
        runtime.ingest(partition, changed, now)
        log.info("resolve %s by %s: %d alerts", group_key or fp, user, len(changed))

    async def silence_from_button(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        tenant, group_key, fp, user = self._target(cmd)
        duration = _number(cmd, "duration") if cmd.get("duration") is not None else 3600.0
        if duration <= 0:
            raise CommandError("duration: must be positive")
        if fp:
            alerts = self.runtime.group_alerts(tenant, None, fp)
            labels = alerts[0].labels if alerts else {}
        else:
            groups = self.runtime.dispatcher.groups_with_key(tenant, group_key or "")
            labels = dict(groups[0].labels) if groups else {}
        labels = {k: v for k, v in labels.items() if v and k != "tenant"}
        if not labels:
            raise CommandError("nothing to silence: unknown group or alert")
        s = Silence(
            id=str(uuid.uuid4()),
            matchers=tuple(Matcher(k, EQ, v) for k, v in sorted(labels.items())),
            starts_at=now,
            ends_at=now + duration,
            created_by=user or "slack",
            comment=f"silenced from a notification by {user or 'unknown'}",
            updated_at=now,
            tenant=tenant,
        )
        self.put_silence(partition, s)

    # --- housekeeping -------------------------------------------------------------------
    def gc_silences(self, now: float) -> None:
        """Delete expired silences past the retention from the partitions owned here."""
        suppressor = self.runtime.suppressor
        retention = suppressor.silences.retention
        mine = self.runtime.loaded
        for s in list(suppressor.silences.all()):
            p = suppressor.silence_partition.get(s.id)
            if p in mine and s.ends_at + retention <= now:
                suppressor.table.delete(p, s.id)
                suppressor.apply_silence(p, s.id, None)


def register(
    app: faust.App, topic: faust.TopicT, runtime: AlertRuntime, guard: OffsetGuard
) -> Commands:
    """``guard`` hands over the records the consumer skipped (``agents/continuity.py``)."""
    commands = Commands(runtime)
    name = topic.get_topic_name()

    async def handle(partition: int, key: bytes | None, value: bytes | None) -> None:
        runtime.ensure(partition)
        try:
            items = decode_batch(value)
        except WireError as exc:
            await dead_letters("commands", key, [raw_reject(value, str(exc))])
            return
        bad: list[tuple[Any, str]] = []
        now = time.time()
        for cmd in items:
            if not isinstance(cmd, dict):
                bad.append((cmd, "command: expected a JSON object"))
                continue
            try:
                await commands.apply(partition, cmd, now)
            except (CommandError, SilenceError) as exc:
                bad.append((cmd, str(exc)))
        await dead_letters("commands", key, bad)

    @app.agent(topic, name="agents.commands.process_commands")
    async def process_commands(stream):  # type: ignore[no-untyped-def]
        traces = runtime.traces  # None: tracing off
        async for event in stream.events():
            partition = event.message.partition
            for r in await guard.records(name, event.message):
                # the command continues its sender's trace, and the flush it leads to
                # (an ack, a silence, a resolve) continues the command's
                with input_span(traces, "alertstream.commands", r.key, r.headers):
                    await handle(partition, r.key, r.value)
            guard.handled(name, partition, event.message.offset)
            runtime.stores.checkpoint.commit_batch()

    @app.timer(60.0, name="agents.commands.gc_silences")
    async def gc_silences() -> None:
        if runtime.suppressor.ready:
            commands.gc_silences(time.time())
            runtime.stores.checkpoint.commit_batch()

    return commands
