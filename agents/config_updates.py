"""Configs changed at run time: every worker follows the ``config`` topic and SIGHUP.

The ``config`` topic is compacted and keyed by tenant; each record is a version
(``app/config/tenants.py: ConfigVersion``).  Every worker reads it from the beginning
with a group-less consumer (as the silences are replicated), so every worker runs every
tenant's latest version and can answer ``GET /api/v1/config/{tenant}``.  Each version is
validated again before it is installed (a record written by any producer is checked
exactly as ``PUT`` checks it); a bad one goes to ``dlq`` with its errors and the running
config stays.  Until the topic has been read up to its end offsets seen at start,
``configs.ready`` is false: the metrics agent does not evaluate and the alert path does
not flush, so a restarted worker never judges a tenant by the default rules or routes.

SIGHUP re-reads the pipelines file and its ``tenant_files:`` (Alertmanager's reload):
validated first, and refused with every error logged if it is bad.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import faust

from agents.dlq import dead_letters, raw_reject
from agents.sealing import opened_version
from agents.topic_tail import tail
from app.config.loader import ConfigError
from app.config.tenants import ConfigVersion, TenantConfigs, load_all

log = logging.getLogger(__name__)


async def apply_record(configs: TenantConfigs, key: bytes | None, raw: bytes | None) -> None:
    """One record of the config topic: install it, or send it to dlq with the reasons."""
    if raw is None:  # a tombstone: deleting a tenant's config is not supported
        return
    try:
        version = ConfigVersion.from_wire(await opened_version(raw))
    except ValueError as exc:
        await dead_letters("config", key, [raw_reject(raw, str(exc))])
        return
    errors = configs.apply(version, time.time())
    if errors:
        reason = f"config v{version.version} refused: " + "; ".join(errors)
        await dead_letters("config", key, [raw_reject(raw, reason)])


def reload_file(configs: TenantConfigs, path: str) -> list[str]:
    """SIGHUP: the pipelines file and its tenant files, installed if they validate;
    returns the errors (nothing changed) or [] (what changed is logged)."""
    try:
        base, files = load_all(path)
    except ConfigError as exc:
        log.error("reload of %s refused, the running config stays:\n%s", path, exc)
        return exc.errors
    changes = configs.reload(base, files, time.time())
    log.warning("reloaded %s: %s", path, "; ".join(changes) or "no change")
    return []


def register(
    app: faust.App,
    configs: TenantConfigs,
    topic: faust.TopicT,
    pipelines: str,
    broker: str,
    reloads: Sequence[Callable[[], object]] = (),
) -> list[Callable[[str, list[str]], object]]:
    """Follow the config topic on every worker, and reload the pipelines file on SIGHUP,
    then call each of ``reloads`` (the one SIGHUP handler a loop has: the HTTP server's
    certificate, ``app/tls.py``).  Returns the list of observers told each reload's
    outcome, (path, errors: [] when installed); the audit log appends to it."""
    reloaded: list[Callable[[str, list[str]], object]] = []

    def on_sighup() -> None:
        errors = reload_file(configs, str(Path(pipelines)))
        for tell in reloaded:
            tell(pipelines, errors)
        for reload in reloads:
            reload()

    async def apply(partition: int, key: bytes | None, raw: bytes | None) -> None:
        await apply_record(configs, key, raw)

    def caught_up() -> None:
        configs.ready = True
        log.info("configs read: %d tenants with their own", len(configs.tenants()))

    @app.task
    async def follow_config() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_sighup)
        while True:  # on an error, start over (installing a version again is a no-op)
            try:
                await tail(app, broker, topic.get_topic_name(), apply, caught_up, 1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following the config topic failed; restarting")
                await asyncio.sleep(1.0)

    return reloaded
