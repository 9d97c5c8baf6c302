"""The Python API for producers: alerts and metrics straight to Kafka, no worker in-process.

As the seed wrote it (module-level functions bound to a default system)::

    from app.client import get_alerts_system, create_alert, send_alert, AlertSeverity

    get_alerts_system({"notification_channels": {"slack": {
        "enabled": True, "webhook_url": "https://hooks.slack.com/...",
        "default_channel": "#alerts"}}})
    alert = create_alert(name="DiskFull", description="disk / is 97% full",
                         severity=AlertSeverity.CRITICAL, source="cron",
                         tenant_id="acme", labels={"host": "db-1"})
    send_alert(alert)

The addresses come from the config, else from the environment as the worker reads them:
``ALERTSTREAM_BROKER`` (and ``ALERTSTREAM_TOPIC_PREFIX``), and ``ALERTSTREAM_URL`` for the
worker's HTTP API, which only ``notification_channels`` needs: a producer cannot change
the worker's receivers itself, so the channels become the tenant's receivers through
``PUT /api/v1/config/{tenant}`` (``app.config.seed_channels``).

Records are keyed by tenant with the murmur2 partitioner (Kafka's Java default, the
one Faust uses), so a tenant's records land on the partition its state lives on.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import yaml
from confluent_kafka import KafkaException, Producer

from app.config.seed_channels import receivers_from_channels, tenant_config
from app.settings import bootstrap_servers, security_config
from app.tls import api_tls
from app.token_cli import api_credential
from models.alerting.alert import DEFAULT_TENANT, Alert, AlertSeverity
from models.rules.sample import Sample

__all__ = [
    "AlertSeverity",
    "AlertsSystem",
    "ClientError",
    "create_alert",
    "get_alerts_system",
    "send_alert",
    "send_alerts",
]

log = logging.getLogger(__name__)
CONFIG_KEYS = frozenset(
    {
        "broker",
        "bootstrap_servers",
        "topic_prefix",
        "tenant",
        "timeout",
        "credentials",
        "producer",
        "url",
        "notification_channels",
    }
)
"""What ``get_alerts_system`` accepts; anything else is refused, not ignored."""
DEFAULT_BROKER = "kafka://127.0.0.1:9092"
KEPT = ("rules", "inhibit_rules", "time_intervals")  # what the channels leave of a tenant config


class ClientError(Exception):
    """The worker's HTTP API could not be reached or refused the request (named in the
    message), or the config asks for something the client cannot do."""


class AlertsSystem:
    def __init__(self, config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        unknown = sorted(set(config) - CONFIG_KEYS)
        if unknown:
            raise ValueError(
                f"get_alerts_system: unknown key {', '.join(unknown)} "
                f"(known: {', '.join(sorted(CONFIG_KEYS))})"
            )
        receivers = receivers_from_channels(config.get("notification_channels") or {})
        self.broker = str(
            config.get("broker")
            or config.get("bootstrap_servers")
            or env.get("ALERTSTREAM_BROKER", DEFAULT_BROKER)
        )
        self.url = str(config.get("url") or env.get("ALERTSTREAM_URL", "")).rstrip("/")
        if receivers and not self.url:
            raise ClientError(
                "notification_channels: the worker's HTTP API is needed to set receivers; "
                "give 'url' or set ALERTSTREAM_URL (e.g. http://127.0.0.1:6066)"
            )
        self.prefix = config.get("topic_prefix", env.get("ALERTSTREAM_TOPIC_PREFIX", ""))
        self.default_tenant = config.get("tenant", DEFAULT_TENANT)
        self.timeout = float(config.get("timeout", 10.0))
        self.last_error = ""  # why the last send failed, naming the broker
        credentials = config.get("credentials", env.get("ALERTSTREAM_BROKER_CREDENTIALS", ""))
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers(self.broker),
                **security_config(credentials),
                "partitioner": "murmur2_random",
                "linger.ms": 5,
                "compression.type": "lz4",
                **config.get("producer", {}),
            }
        )
        # the channels become the receivers of each tenant the system sends alerts for,
        # before its first alert goes out
        self.receivers = receivers
        self.configured: set[str] = set()

    def create_alert(
        self,
        name: str,
        description: str = "",
        severity: AlertSeverity | str = AlertSeverity.CRITICAL,
        source: str = "",
        tenant_id: str | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        tenant: str | None = None,
    ) -> Alert:
        """A validated firing alert (raises ValueError with the reason if invalid).
        ``description`` and ``source`` become annotations, so notifications show them."""
        obj = {
            "labels": {**(labels or {}), "alertname": name},
            "annotations": {
                **({"description": description} if description else {}),
                **({"source": source} if source else {}),
                **(annotations or {}),
            },
            "severity": str(severity),
            "source": source,
            "status": "firing",
        }
        return Alert.from_wire(obj, tenant_id or tenant or self.default_tenant)

    def send_alert(self, alert: Alert) -> bool:
        return self.send_alerts([alert])

    def send_alerts(self, alerts: Iterable[Alert]) -> bool:
        """Produce alerts to `alerts`, one batch per tenant; True once the broker has them.
        With ``notification_channels``, a tenant's first alerts wait until the worker
        runs the channels as its receivers (ClientError if that fails)."""
        alerts = list(alerts)
        for tenant in {a.tenant for a in alerts} - self.configured if self.receivers else ():
            self.set_receivers(self.receivers, tenant)
            self.configured.add(tenant)
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
        if remaining:
            errors.append(f"{remaining} records not acknowledged within {self.timeout:g} s")
        if errors:
            self.last_error = f"the broker at {self.broker} did not take {topic}: {errors[0]}"
            log.warning("%s", self.last_error)
        return not errors

    def set_receivers(self, receivers: list[dict[str, Any]], tenant: str) -> None:
        """Make ``receivers`` the tenant's, through the worker's HTTP API: its current
        config's rules, inhibitions and time intervals are kept, its route and receivers
        replaced; returns once the worker runs the new version.  ClientError otherwise."""
        path = f"/api/v1/config/{tenant}"
        status, current = self._http("GET", path)
        kept = {}
        if status == 200:
            text = (current.get("data") or current).get("text") or ""
            kept = {k: v for k, v in (yaml.safe_load(text) or {}).items() if k in KEPT}
        body = orjson.dumps({**kept, **tenant_config(receivers)})
        status, answer = self._http("PUT", path, body)
        if status >= 300:
            reasons = answer.get("errors") or [answer.get("error") or answer]
            raise ClientError(
                f"the worker at {self.url} refused the receivers ({status} on PUT {path}): "
                + "; ".join(map(str, reasons))
            )
        version = (answer.get("data") or answer).get("version")
        deadline = time.monotonic() + self.timeout
        while version is not None and time.monotonic() < deadline:
            status, current = self._http("GET", path)
            if status == 200 and (current.get("data") or current).get("version", 0) >= version:
                return
            time.sleep(0.2)
        if version is not None:
            raise ClientError(f"the worker at {self.url} did not apply the receivers in time")

    def _http(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        """One request to the worker's API: (status, JSON answer); ClientError naming the
        address when it cannot be reached."""
        request = urllib.request.Request(
            self.url + path,
            data=body,
            method=method,
            headers={"Content-Type": "application/json", **api_credential()},
        )
        try:
            with urllib.request.urlopen(
                request, timeout=self.timeout, context=api_tls(self.url)
            ) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(f"could not reach the worker's API at {self.url}: {reason}") from None
        try:
            answer = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            answer = {"error": raw[:200].decode(errors="replace")}
        if status == 404 and method == "PUT":
            raise ClientError(
                f"the worker at {self.url} has no {path} (per-tenant configs are not served "
                "by that version), so notification_channels cannot be applied"
            )
        return status, answer if isinstance(answer, dict) else {"data": answer}

    def close(self) -> None:
        self.producer.flush(self.timeout)


class _Default:
    """The system the module-level functions use: the last one ``get_alerts_system``
    made, else one made from the environment at the first call."""

    system: AlertsSystem | None = None


def get_alerts_system(config: Mapping[str, Any] | None = None) -> AlertsSystem:
    """A new system from ``config`` (keys: CONFIG_KEYS), which becomes the default of
    ``create_alert`` / ``send_alert``; without a config, the default (made once)."""
    if config is None and _Default.system is not None:
        return _Default.system
    _Default.system = AlertsSystem(config or {})
    return _Default.system


def create_alert(name: str, description: str = "", *args: Any, **kwargs: Any) -> Alert:
    """``AlertsSystem.create_alert`` of the default system."""
    return get_alerts_system().create_alert(name, description, *args, **kwargs)


def send_alert(alert: Alert) -> bool:
    """``AlertsSystem.send_alert`` of the default system."""
    return get_alerts_system().send_alert(alert)


def send_alerts(alerts: Iterable[Alert]) -> bool:
    return get_alerts_system().send_alerts(alerts)
