"""PagerDuty Events API v2 (and v1 for legacy ``service_key`` integrations).

``dedup_key`` is the SHA-256 hex of the group key, as Alertmanager computes it, so
the trigger and the resolve of a group land on the same incident.  A notification
whose ``extra`` says ``{"event_action": "acknowledge"}`` (or ``acknowledged: true``)
while still firing sends ``acknowledge``.  202 is success, 429 and 5xx retry, other
4xx (400 "Invalid event") give up.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import orjson
from pydantic import Field, SecretStr, model_validator

from channels import templating
from channels.channel import Channel
from channels.config_fields import ChannelConfig, Strict, template_field, url_field
from channels.content import severity_of, truncate
from channels.http import http_request
from channels.http_config import HTTPConfig
from channels.rate_limit import RateLimit
from models.notify.notification import Notification

EVENTS_V2_URL = "https://events.pagerduty.com/v2/enqueue"
EVENTS_V1_URL = "https://events.pagerduty.com/generic/2010-04-15/create_event.json"
# "approximately 120 calls/minute per integration key" (PagerDuty developer docs,
# Events API Rate Limits); above it PagerDuty answers 429 and drops the event.
EVENTS_RATE = RateLimit(rate=2.0, burst=2.0)
SUMMARY_MAX = 1024
PD_SEVERITIES = ("critical", "error", "warning", "info")
SEVERITY_MAP = {
    "critical": "critical",
    "error": "error",
    "high": "error",
    "warning": "warning",
    "medium": "warning",
    "low": "info",
    "info": "info",
}


class PagerdutyLink(Strict):
    href: str = ""
    text: str = ""


class PagerdutyImage(Strict):
    src: str = ""
    alt: str = ""
    href: str = ""


class PagerdutyConfig(ChannelConfig):
    send_resolved: bool = True
    routing_key: SecretStr | None = None
    service_key: SecretStr | None = None
    url: str = ""  # default: Events API v2 (routing_key) or v1 (service_key)
    http_config: HTTPConfig = HTTPConfig()
    client: str = "alertstream"
    client_url: str = ""  # template; default: the notification's externalURL
    description: str = ""  # template; empty = built-in pagerduty.description.txt
    severity: str = ""  # template; empty = from the alerts' severity label
    details: dict[str, str] = {}  # templates, merged over the default details
    links: list[PagerdutyLink] = []
    images: list[PagerdutyImage] = []
    source: str = ""  # template; default: client
    class_: str = Field("", alias="class")  # 'class' in YAML
    component: str = ""
    group: str = ""

    check_templates = template_field(
        "client_url", "description", "severity", "details", "source", "component", "group"
    )
    check_urls = url_field("url")

    @model_validator(mode="after")
    def _key(self) -> PagerdutyConfig:
        if not self.key():
            raise ValueError("missing service or routing key in PagerDuty config")
        return self

    def key(self) -> str:
        for k in (self.routing_key, self.service_key):
            if k is not None and k.get_secret_value():
                return k.get_secret_value()
        return ""

    @property
    def v1(self) -> bool:
        return not (self.routing_key and self.routing_key.get_secret_value())


def dedup_key(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()


def pd_severity(value: str) -> str:
    value = value.strip().lower()
    return value if value in PD_SEVERITIES else SEVERITY_MAP.get(value, "error")


class PagerdutyChannel(Channel):
    kind: ClassVar[str] = "pagerduty"
    config_key: ClassVar[str] = "pagerduty_configs"
    Config = PagerdutyConfig
    config: PagerdutyConfig

    def event_action(self, notification: Notification) -> str:
        if notification.status == "resolved":
            return "resolve"
        extra = notification.extra
        if extra.get("event_action") == "acknowledge" or extra.get("acknowledged") is True:
            return "acknowledge"
        return "trigger"

    def render(self, notification: Notification) -> dict[str, Any]:
        cfg = self.config
        ctx = templating.context(notification)
        action = self.event_action(notification)
        summary = truncate(
            templating.render(cfg.description, "pagerduty.description.txt", ctx), SUMMARY_MAX
        )
        client_url = (
            templating.render_string(cfg.client_url, ctx)
            if cfg.client_url
            else notification.external_url
        )
        details = self.details(notification, ctx)
        options = cfg.http_config.options(cfg.attempt_timeout())
        headers = cfg.http_config.auth_headers()
        key = dedup_key(notification.group_key)

        if cfg.v1:
            body: dict[str, Any] = {
                "service_key": cfg.key(),
                "event_type": action,
                "incident_key": key,
                "description": summary,
                "details": details,
            }
            if action == "trigger":
                body.update(client=cfg.client, client_url=client_url)
            return http_request(cfg.url or EVENTS_V1_URL, body, headers=headers, options=options)

        body = {"routing_key": cfg.key(), "event_action": action, "dedup_key": key}
        if action == "trigger":
            sev_src = (
                templating.render_string(cfg.severity, ctx)
                if cfg.severity
                else self._label_severity(notification)
            )
            payload: dict[str, Any] = {
                "summary": summary,
                "source": templating.render_string(cfg.source, ctx)
                if cfg.source
                else (cfg.client or "alertstream"),
                "severity": pd_severity(sev_src),
                "custom_details": details,
            }
            for name, value in (
                ("class", cfg.class_),
                ("component", cfg.component),
                ("group", cfg.group),
            ):
                if value:
                    payload[name] = templating.render_string(value, ctx)
            body["payload"] = payload
            body["client"] = cfg.client
            if client_url:
                body["client_url"] = client_url
            links = [
                {
                    "href": templating.render_string(x.href, ctx),
                    "text": templating.render_string(x.text, ctx),
                }
                for x in cfg.links
            ]
            runbook = notification.common("annotations").get("runbook_url")
            if runbook:
                links.append({"href": runbook, "text": "Runbook"})
            if links:
                body["links"] = links
            if cfg.images:
                body["images"] = [
                    {k: templating.render_string(v, ctx) for k, v in img.model_dump().items() if v}
                    for img in cfg.images
                ]
        return http_request(cfg.url or EVENTS_V2_URL, body, headers=headers, options=options)

    @classmethod
    def rate_scope(cls, rendered: dict[str, Any]) -> tuple[str, RateLimit]:
        """PagerDuty limits events per integration (routing or service) key."""
        body = orjson.loads(rendered["body"])
        return "pagerduty:" + (
            body.get("routing_key") or body.get("service_key") or ""
        ), EVENTS_RATE

    @staticmethod
    def _label_severity(notification: Notification) -> str:
        return severity_of(notification) or "error"

    def details(self, notification: Notification, ctx: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "firing": templating.render_file("text.txt", {**ctx, "resolved_alerts": []}),
            "resolved": templating.render_file("text.txt", {**ctx, "firing_alerts": []}),
            "num_firing": len(notification.firing()),
            "num_resolved": len(notification.resolved()),
            "tenant": notification.tenant,
            "group_labels": notification.group_labels,
        }
        for k, tpl in self.config.details.items():
            out[k] = templating.render_string(tpl, ctx)
        return out
