"""The Python API for producers: alerts and metrics straight to Kafka, no worker in-process.

    from app.client import get_alerts_system, AlertSeverity
    system = get_alerts_system({"broker": "kafka://127.0.0.1:9092"})
    alert = system.create_alert("DiskFull", "disk / is 97% full",
                                severity=AlertSeverity.CRITICAL, source="cron",
                                tenant_id="acme", labels={"host": "db-1"})
    system.send_alert(alert)

Records are keyed by tenant with the murmur2 partitioner (Kafka's Java default, the
one Faust uses), so a tenant's records land on the partition its state lives on.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from confluent_kafka import KafkaException, Producer

from app.settings import bootstrap_servers, security_config
from models.alerting.alert import DEFAULT_TENANT, Alert, AlertSeverity
from models.rules.sample import Sample

__all__ = ["AlertSeverity", "AlertsSystem", "get_alerts_system"]


class AlertsSystem:
    def __init__(self, config: Mapping[str, Any]) -> None:
        broker = config.get("broker") or config.get("bootstrap_servers") or "127.0.0.1:9092"
        self.prefix = config.get("topic_prefix", "")
        self.default_tenant = config.get("tenant", DEFAULT_TENANT)
        self.timeout = float(config.get("timeout", 10.0))
        credentials = config.get(
            "credentials", os.environ.get("ALERTSTREAM_BROKER_CREDENTIALS", "")
        )
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers(broker),
                **security_config(credentials),
                "partitioner": "murmur2_random",
                "linger.ms": 5,
                "compression.type": "lz4",
                **config.get("producer", {}),
            }
        )

    def create_alert(
        self,
        name: str,
        description: str = "",
        severity: AlertSeverity | str = AlertSeverity.CRITICAL,
        source: str = "",
        tenant_id: str | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> Alert:
        """A validated firing alert (raises ValueError with the reason if invalid)."""
        obj = {
            "labels": {**(labels or {}), "alertname": name},
            "annotations": {
                **(annotations or {}),
                **({"description": description} if description else {}),
            },
            "severity": str(severity),
            "source": source,
            "status": "firing",
        }
        return Alert.from_wire(obj, tenant_id or self.default_tenant)

    def send_alert(self, alert: Alert) -> bool:
        return self.send_alerts([alert])

    def send_alerts(self, alerts: Iterable[Alert]) -> bool:
        """Produce alerts to `alerts`, one batch per tenant; True once the broker has them."""
        return self._send("alerts", [(a.tenant, a.to_wire()) for a in alerts])

    def acknowledge(
        self, tenant: str, group_key: str, duration: float | None = None, user: str = ""
    ) -> bool:
        """Ack an alert group (its Alertmanager group key): it stops repeating until it
        changes or ``duration`` seconds pass (the pipeline's default when None)."""
        command: dict[str, Any] = {
            "op": "ack",
            "tenant": tenant,
            "group_key": group_key,
            "user": user,
        }
        if duration is not None:
            command["duration"] = duration
        return self._send("commands", [(tenant, command)])

    def send_metrics(self, samples: Iterable[Mapping[str, Any] | Sample]) -> bool:
        """Produce samples (dicts in the `metrics` wire format, or Sample) to `metrics`."""
        now = time.time()
        records = []
        for s in samples:
            sample = s if isinstance(s, Sample) else Sample.from_wire(s, self.default_tenant, now)
            records.append((sample.tenant, sample.to_wire()))
        return self._send("metrics", records)

    def _send(self, topic: str, records: list[tuple[str, dict[str, Any]]]) -> bool:
        by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for tenant, record in records:
            by_tenant[tenant].append(record)
        errors: list[str] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        try:
            for tenant, batch in by_tenant.items():
                self.producer.produce(
                    self.prefix + topic, orjson.dumps(batch), tenant.encode(), on_delivery=delivered
                )
        except (KafkaException, BufferError) as exc:
            errors.append(str(exc))
        remaining = self.producer.flush(self.timeout)
        return not errors and remaining == 0

    def close(self) -> None:
        self.producer.flush(self.timeout)


def get_alerts_system(config: Mapping[str, Any] | None = None) -> AlertsSystem:
    return AlertsSystem(config or {})
