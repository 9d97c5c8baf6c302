"""Retention: how long what we persist is kept, enforced where it lives.

Topics: ``retention.ms`` is set on the broker (Kafka's IncrementalAlterConfigs, which
the embedded broker accepts too) for the topics the main file gives a retention; the
broker deletes old segments.  ``audit`` and ``audit.checkpoints`` get -1 (no limit),
whatever the broker's default.  Tables: a task collects the history table every
``retention.check_every`` (per tenant: ``history_events`` per alert and ``history``
age); delivered ids are collected by the channel senders (``agents/notify.py``).
What was applied is reported at ``/api/v1/status`` (``app/api_gdpr.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from agents.runtime import AlertRuntime
from app.config.data_protection import RetentionConfig
from app.config.schema import PipelinesConfig
from app.settings import Settings
from channels import CHANNELS
from models.privacy.retention import expired_history
from tables.kafka_clients import client_config
from tables.store import PartitionStore

log = logging.getLogger(__name__)


FOREVER = -1.0  # Kafka's retention.ms of -1: segments are never deleted for their age
KEPT_FOR_GOOD = ("audit", "audit.checkpoints")  # verify reads each chain from its start


def topic_retention(config: RetentionConfig, prefix: str) -> dict[str, float]:
    """Topic name -> retention in seconds (FOREVER: no limit), for the topics the config
    gives one and the audit topics, which are kept for good whatever the broker's
    default: deleting a chain's head would make every checkpoint after it unverifiable."""
    wanted: dict[str, float | None] = {
        **dict.fromkeys(KEPT_FOR_GOOD, FOREVER),
        "history": config.history,
        "notifications.receipts": config.receipts,
        "dlq": config.dead_letters,
        **{f"notifications.{kind}": config.notifications for kind in CHANNELS},
        **{name: config.inputs for name in ("alerts", "metrics", "events")},
    }
    return {prefix + name: s for name, s in wanted.items() if s is not None}


class Retention:
    def __init__(
        self,
        config: PipelinesConfig,
        runtime: AlertRuntime,
        history: PartitionStore,
        settings: Settings,
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.history = history
        self.settings = settings
        self.topics: dict[str, dict[str, Any]] = {}  # name -> what was set, or the error
        self.last_run = 0.0
        self.deleted: dict[str, int] = {"history": 0}

    # --- tables -------------------------------------------------------------------------
    def policy(self, tenant: str) -> RetentionConfig:
        return self.runtime.config_for(tenant).retention

    def partition_policy(self, partition: int) -> tuple[int, float | None]:
        """History entries kept per alert and their longest age on one partition: the
        most any of its tenants keeps (history entries do not name their tenant, and a
        tenant sharing a partition never loses entries it asked to keep)."""
        tenants = [t for t, p in self.runtime.partition_of.items() if p == partition]
        policies = [self.policy(t) for t in tenants] or [self.config.retention]
        keep = max(p.history_events for p in policies)
        ages = [p.history for p in policies]
        return keep, None if None in ages else max(a for a in ages if a is not None)

    def collect(self, now: float) -> int:
        """Delete history entries past their retention, on the partitions owned here."""
        n = 0
        for partition in sorted(self.runtime.loaded):
            keep, age = self.partition_policy(partition)
            keys = [k for k, _ in self.history.scan(partition, "")]
            for key in expired_history(keys, keep, age, now):
                self.history.delete(partition, key)
                n += 1
        self.runtime.stores.checkpoint.commit_batch()
        self.deleted["history"] += n
        self.last_run = now
        if n:
            log.info("retention: %d history entries deleted", n)
        return n

    # --- topics -------------------------------------------------------------------------
    def apply_topics(self, timeout: float = 10.0) -> bool:
        """Set ``retention.ms`` on the broker; True when every topic took it."""
        wanted = topic_retention(self.config.retention, self.settings.topic_prefix)
        admin = AdminClient(client_config(self.settings.broker, self.settings.broker_credentials))
        resources = [
            ConfigResource(
                "topic",
                name,
                incremental_configs=[
                    ConfigEntry(
                        "retention.ms",
                        "-1" if seconds == FOREVER else str(int(seconds * 1000)),
                        incremental_operation=AlterConfigOpType.SET,
                    )
                ],
            )
            for name, seconds in wanted.items()
        ]
        ok = True
        for resource, future in admin.incremental_alter_configs(resources).items():
            seconds = wanted[resource.name]
            try:
                future.result(timeout)
                self.topics[resource.name] = {"retention_seconds": seconds, "set": True}
            except Exception as exc:
                ok = False
                self.topics[resource.name] = {"retention_seconds": seconds, "error": str(exc)}
        return ok

    def report(self, tenant: str | None) -> dict[str, Any]:
        tenants = [tenant] if tenant else sorted(self.runtime.partition_of)
        return {
            "default": self.config.retention.model_dump(mode="json"),
            "tenants": {t: self.policy(t).model_dump(mode="json") for t in tenants},
            "topics": self.topics,
            "collected": {"last_run": self.last_run or None, "deleted": self.deleted},
        }


def register(app: faust.App, retention: Retention) -> None:
    every = retention.config.retention.check_every

    @app.task
    async def enforce_retention() -> None:
        """Topic settings until the broker took them all, then the tables' collection."""
        topics_set = False
        await asyncio.sleep(min(every, 2.0))
        while True:
            if not topics_set:
                topics_set = await asyncio.to_thread(retention.apply_topics)
            if retention.runtime.ready():
                retention.collect(time.time())
            await asyncio.sleep(every if topics_set else min(every, 5.0))
