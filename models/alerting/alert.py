"""The alert record: what travels on the `alerts` topic and through the pipeline.

Field names follow the issue's wire format (snake_case); the HTTP API v2 and the
webhook payload translate them to Alertmanager's camelCase at the edge.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import msgspec
import orjson

from models.alerting.fingerprint import fingerprint as fingerprint_of
from models.wire import WireError, decode_batch, format_time, parse_time, string_map


class AlertSeverity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


FIRING = "firing"
RESOLVED = "resolved"
DEFAULT_TENANT = "default"


NO_ANNOTATIONS = b"{}"
# msgspec's output is exactly its size; orjson's sits in a 4 KiB allocation
_encode = msgspec.json.Encoder().encode


class Alert:
    """One alert instance. ``labels`` identify it (and always carry ``alertname`` and
    ``tenant``); ``annotations`` describe it. ``ends_at`` 0 means "until resolved".

    Annotations are held as their JSON (``annotations_json``) and decoded when read:
    they are read when an alert is shown, not when it is routed, deduplicated or muted,
    and a dict with its strings costs ~3x its JSON, per active alert."""

    __slots__ = (  # noqa: RUF023 (grouped: the record, then the path's bookkeeping)
        "tenant",
        "labels",
        "annotations_json",
        "status",
        "starts_at",
        "ends_at",
        "source",
        "generator_url",
        "fingerprint",
        # bookkeeping of the alert path, kept on the alert instead of in side dicts (one
        # object per active alert is the memory budget); not copied by ``replace``
        "groups",  # groups holding it
        "stored_ends",
        "mute_epoch",
        "muted",
        # the webhook form as JSON: a group's alerts are shown at every flush, and most
        # have not changed since the last one; whoever changes a shown field calls
        # ``changed()``
        "rendered",
    )

    def __init__(
        self,
        tenant: str,
        labels: dict[str, str],
        annotations: Mapping[str, str] | None = None,
        status: str = FIRING,
        starts_at: float = 0.0,
        ends_at: float = 0.0,
        source: str = "",
        generator_url: str = "",
        fingerprint: str = "",
    ) -> None:
        self.tenant = tenant
        self.labels = labels
        self.annotations_json = _encode(annotations) if annotations else NO_ANNOTATIONS
        self.status = status
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.source = source
        self.generator_url = generator_url
        self.fingerprint = fingerprint or fingerprint_of(labels)
        self.groups = 0
        self.stored_ends = 0.0
        self.mute_epoch: Any = None
        self.muted = False
        self.rendered: orjson.Fragment | None = None

    @property
    def annotations(self) -> dict[str, str]:
        """A fresh dict each time: assign a new one to change them."""
        raw = self.annotations_json
        return {} if raw is NO_ANNOTATIONS else orjson.loads(raw)

    @annotations.setter
    def annotations(self, value: Mapping[str, str]) -> None:
        self.annotations_json = _encode(value) if value else NO_ANNOTATIONS

    def _fields(self) -> dict[str, Any]:
        """The record's own fields as ``__init__`` takes them, except the annotations
        (kept encoded here); not the alert path's bookkeeping."""
        return {
            "tenant": self.tenant,
            "labels": self.labels,
            "status": self.status,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "source": self.source,
            "generator_url": self.generator_url,
            "fingerprint": self.fingerprint,
        }

    def replace(self, **changes: Any) -> Alert:
        """A copy with ``changes`` applied (as ``dataclasses.replace``), bookkeeping reset."""
        fields = self._fields()
        if "labels" in changes and "fingerprint" not in changes:
            fields["fingerprint"] = ""
        copy = Alert(**(fields | changes))
        if "annotations" not in changes:
            copy.annotations_json = self.annotations_json
        return copy

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Alert):
            return NotImplemented
        return self.to_wire() == other.to_wire()

    __hash__ = None  # type: ignore[assignment]  # mutable: never a set member or dict key

    def __repr__(self) -> str:
        return (
            f"Alert(tenant={self.tenant!r}, labels={self.labels!r}, "
            f"annotations={self.annotations!r}, status={self.status!r}, "
            f"starts_at={self.starts_at!r}, ends_at={self.ends_at!r}, "
            f"fingerprint={self.fingerprint!r})"
        )

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    def resolved_at(self, now: float) -> bool:
        """Alertmanager's rule: resolved once ends_at lies in the past."""
        return self.status == RESOLVED or (0 < self.ends_at <= now)

    @classmethod
    def from_wire(cls, obj: Any, tenant: str | None = None, now: float | None = None) -> Alert:
        """Validate one wire object; raises WireError with the reason."""
        if not isinstance(obj, dict):
            raise WireError("alert: expected a JSON object")
        now = time.time() if now is None else now
        return _assemble(
            labels=string_map(obj.get("labels"), "labels"),
            annotations=string_map(obj.get("annotations"), "annotations"),
            status=obj.get("status", FIRING),
            tenant=obj.get("tenant"),
            name=obj.get("name") or obj.get("alertname"),
            severity=obj.get("severity"),
            starts=obj.get("starts_at", obj.get("startsAt")),
            ends=obj.get("ends_at", obj.get("endsAt")),
            source=obj.get("source"),
            generator_url=obj.get("generator_url") or obj.get("generatorURL"),
            default_tenant=tenant,
            now=now,
        )

    def to_wire(self) -> dict[str, Any]:
        return {**self._fields(), "annotations": self.annotations}

    def webhook_json(self, now: float) -> orjson.Fragment:
        """``to_webhook`` encoded once and reused until ``changed()``, so a notification
        of a large group is assembled from bytes, not re-encoded."""
        rendered = self.rendered
        if rendered is None:
            # copied: orjson's output sits in a 4 KiB allocation, too big to keep per alert
            shown = self.to_webhook(now, orjson.Fragment(self.annotations_json))
            raw = bytes(memoryview(orjson.dumps(shown)))
            rendered = self.rendered = orjson.Fragment(raw)
        return rendered

    def changed(self) -> None:
        """Say that status, times or annotations changed (the rendering is redone)."""
        self.rendered = None

    def to_webhook(self, now: float, annotations: Any = None) -> dict[str, Any]:
        """The alert as it appears in Alertmanager's webhook payload (version 4);
        ``annotations`` in place of the decoded ones (their JSON, to encode)."""
        resolved = self.resolved_at(now)
        return {
            "status": RESOLVED if resolved else FIRING,
            "labels": self.labels,
            "annotations": self.annotations if annotations is None else annotations,
            "startsAt": format_time(self.starts_at),
            "endsAt": format_time(self.ends_at if resolved else 0.0),
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        }


class _WireAlert(msgspec.Struct):
    """The accepted shape of one alert on the wire, for msgspec's typed decoder. Both
    our snake_case names and Alertmanager's camelCase ones are accepted."""

    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    status: str = FIRING
    tenant: str | None = None
    name: str | None = None
    alertname: str | None = None
    severity: str | None = None
    starts_at: float | str | None = None
    startsAt: float | str | None = None
    ends_at: float | str | None = None
    endsAt: float | str | None = None
    source: str | None = None
    generator_url: str | None = None
    generatorURL: str | None = None


_DECODER = msgspec.json.Decoder(list[_WireAlert])
_intern = sys.intern


def _assemble(
    *,
    labels: dict[str, str],
    annotations: dict[str, str],
    status: Any,
    tenant: Any,
    name: Any,
    severity: Any,
    starts: Any,
    ends: Any,
    source: Any,
    generator_url: Any,
    default_tenant: str | None,
    now: float,
) -> Alert:
    """The alert from its validated parts: tenant and alertname into the labels, times
    parsed, Alertmanager's rules for missing times. Raises WireError with the reason."""
    tenant = str(tenant or labels.get("tenant") or default_tenant or DEFAULT_TENANT)
    if not labels.get("alertname"):
        if not name:
            raise WireError("labels.alertname: required")
        labels["alertname"] = _intern(str(name))
    if severity and "severity" not in labels:
        labels["severity"] = _intern(str(severity))
    labels["tenant"] = _intern(tenant)
    if status not in (FIRING, RESOLVED):
        raise WireError(f"status: {status!r} is not one of firing, resolved")
    starts_at = parse_time(starts, "starts_at") if starts not in (None, "") else now
    ends_at = parse_time(ends, "ends_at") if ends not in (None, "") else 0.0
    if ends_at < 0 or starts_at < 0:
        ends_at = max(ends_at, 0.0)
        starts_at = max(starts_at, 0.0)
    if status == RESOLVED and not ends_at:
        ends_at = now
    return Alert(
        tenant=tenant,
        labels=labels,
        annotations=annotations,
        status=status,
        starts_at=starts_at,
        ends_at=ends_at,
        source=str(source or ""),
        generator_url=str(generator_url or ""),
    )


def _from_struct(w: _WireAlert, tenant: str | None, now: float) -> Alert:
    """``Alert.from_wire`` for an item msgspec has already type-checked."""
    return _assemble(
        labels={k: _intern(v) for k, v in w.labels.items()},  # values repeat across alerts
        annotations=w.annotations,
        status=w.status,
        tenant=w.tenant,
        name=w.name or w.alertname,
        severity=w.severity,
        starts=w.starts_at if w.starts_at is not None else w.startsAt,
        ends=w.ends_at if w.ends_at is not None else w.endsAt,
        source=w.source,
        generator_url=w.generator_url or w.generatorURL,
        default_tenant=tenant,
        now=now,
    )


def parse_alerts(
    raw: bytes | str, tenant: str | None, now: float
) -> tuple[list[Alert], list[tuple[Any, str]]]:
    """Decode and validate one record (a JSON object or array of alerts): the good
    alerts, and (item, reason) for each bad one. Raises WireError if the record is not
    JSON at all. A well-formed batch is decoded by msgspec at C speed; one with a bad
    item is decoded item by item, so every reason is reported and the good ones kept."""
    body = raw.lstrip() if isinstance(raw, bytes) else raw.encode().lstrip()
    if body[:1] == b"[":
        try:
            items = _DECODER.decode(body)
        except msgspec.DecodeError:
            items = None
        if items is not None:
            good: list[Alert] = []
            bad: list[tuple[Any, str]] = []
            for w in items:
                try:
                    good.append(_from_struct(w, tenant, now))
                except WireError as exc:
                    bad.append((msgspec.to_builtins(w), str(exc)))
            return good, bad
    good, bad = [], []
    for item in decode_batch(raw):
        try:
            good.append(Alert.from_wire(item, tenant, now))
        except WireError as exc:
            bad.append((item, str(exc)))
    return good, bad
