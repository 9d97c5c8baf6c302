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
from dataclasses import replace
from typing import Any

from agents.alerts import _persist_dispatch, alert_sets, dispatcher, ingest, owned
from agents.dlq import dead_letters, raw_reject
from agents.suppression import suppressor
from app.faust_app import app, commands_topic
from app.pipeline import pipeline_config
from models.alerting.alert import FIRING, RESOLVED, Alert
from models.suppression.matchers import EQ, Matcher
from models.suppression.silences import EXPIRED, Silence, SilenceError
from models.wire import WireError, decode_batch
from tables import silences as silences_table

log = logging.getLogger(__name__)


class CommandError(ValueError):
    pass


def _number(d: dict[str, Any], key: str) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise CommandError(f"{key}: expected a number")
    return float(v)


def _put_silence(partition: int, s: Silence) -> None:
    s.validate()
    silences_table.put(partition, s.id, s.to_dict())
    suppressor.apply_silence(partition, s.id, s.to_dict())


def _expire(partition: int, sid: str, at: float) -> None:
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
    _put_silence(suppressor.silence_partition.get(sid, partition), s)


def _group_alerts(
    partition: int, tenant: str, group_key: str | None, fp: str | None
) -> list[Alert]:
    alerts = alert_sets[partition].alerts
    if fp:
        a = alerts.get(fp)
        return [a] if a is not None else []
    members = {f for g in dispatcher.groups_with_key(tenant, group_key or "") for f in g.members}
    return [a for f in sorted(members) if (a := alerts.get(f)) is not None]


async def _apply(partition: int, cmd: dict[str, Any], now: float) -> None:
    op = cmd.get("op") or cmd.get("action")
    if op == "silence.put":
        try:
            s = Silence.from_dict(cmd["silence"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CommandError(f"silence: unreadable ({exc})") from None
        if not s.id:
            raise CommandError("silence: id required")
        _put_silence(partition, s)
        return
    if op == "silence.expire":
        sid = cmd.get("id")
        if not isinstance(sid, str) or not sid:
            raise CommandError("id: required")
        _expire(partition, sid, float(cmd.get("at") or now))
        return
    tenant = cmd.get("tenant")
    if not isinstance(tenant, str) or not tenant:
        raise CommandError("tenant: required")
    group_key, fp = cmd.get("group_key"), cmd.get("fingerprint")
    if not group_key and not fp:
        raise CommandError("group_key or fingerprint: required")
    user = str(cmd.get("user") or "")
    if op == "ack":
        if not group_key:
            alerts = _group_alerts(partition, tenant, None, fp)
            keys = [g.key for g in dispatcher.groups.values() if alerts and fp in g.members]
        else:
            keys = [group_key]
        if cmd.get("until") is not None:
            until = _number(cmd, "until")
        elif cmd.get("duration") is not None:
            until = now + _number(cmd, "duration")
        else:
            until = now + pipeline_config().ack_default_duration
        n = sum(dispatcher.acknowledge(tenant, k, until) for k in keys)
        _persist_dispatch()
        log.info("ack %s/%s by %s until %.0f: %d log entries", tenant, keys, user, until, n)
        if not n:
            known = [k for k in dispatcher.nflog if k.startswith(tenant + "/")][:5]
            log.warning(
                "ack %s/%s matched no notification log entry; the tenant has %s",
                tenant,
                keys,
                known,
            )
        return
    if op == "resolve":
        alerts = [a for a in _group_alerts(partition, tenant, group_key, fp) if a.status == FIRING]
        resolved = [replace(a, status=RESOLVED, ends_at=now) for a in alerts]
        changed, _ = alert_sets[partition].merge(resolved, now)
        await ingest(partition, changed, now)
        log.info("resolve %s by %s: %d alerts", group_key or fp, user, len(changed))
        return
    if op == "silence":
        duration = _number(cmd, "duration") if cmd.get("duration") is not None else 3600.0
        if duration <= 0:
            raise CommandError("duration: must be positive")
        if fp:
            alerts = _group_alerts(partition, tenant, None, fp)
            labels = alerts[0].labels if alerts else {}
        else:
            groups = dispatcher.groups_with_key(tenant, group_key or "")
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
        _put_silence(partition, s)
        return
    raise CommandError(f"unknown command {op!r}")


@app.agent(commands_topic)
async def process_commands(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        partition = event.message.partition
        owned.ensure(partition)
        key = event.key
        try:
            items = decode_batch(event.value)
        except WireError as exc:
            await dead_letters("commands", key, [raw_reject(event.value, str(exc))])
            continue
        bad: list[tuple[Any, str]] = []
        now = time.time()
        for cmd in items:
            if not isinstance(cmd, dict):
                bad.append((cmd, "command: expected a JSON object"))
                continue
            try:
                await _apply(partition, cmd, now)
            except (CommandError, SilenceError) as exc:
                bad.append((cmd, str(exc)))
        await dead_letters("commands", key, bad)


@app.timer(60.0)
async def gc_silences() -> None:
    """Delete expired silences past the retention from the partitions this worker owns."""
    if not suppressor.ready:
        return
    now = time.time()
    retention = suppressor.silences.retention
    mine = owned.loaded
    for s in list(suppressor.silences.all()):
        p = suppressor.silence_partition.get(s.id)
        if p in mine and s.ends_at + retention <= now:
            silences_table.delete(p, s.id)
            suppressor.apply_silence(p, s.id, None)
