"""Microsoft Teams: an Adaptive Card (schema 1.4) in the ``message`` envelope.

Both ``msteams_configs`` (Office 365 connector URLs) and ``msteamsv2_configs``
(Power Automate "Workflows" URLs) post::

    {"type": "message", "attachments": [{"contentType":
      "application/vnd.microsoft.card.adaptive", "content": {AdaptiveCard}}]}

Connectors answer ``200 1``, but report throttling as ``200`` with a body such as
"Microsoft Teams endpoint returned HTTP error 429"; that inner status is what we
classify.  Workflows answer ``202``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import SecretStr, model_validator

from channels import templating
from channels.channel import Channel
from channels.config_fields import ChannelConfig, template_field, url_field
from channels.content import runbook_url, severity_of, source_url
from channels.http import classify_http, http_request
from channels.http_config import HTTPConfig
from channels.outcome import Outcome
from models.notify.notification import Notification

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"

# Container styles and TextBlock colours of the Adaptive Card schema.
SEVERITY_STYLES = {
    "critical": "attention",
    "error": "attention",
    "high": "attention",
    "warning": "warning",
    "medium": "warning",
    "low": "accent",
    "info": "accent",
}
_INNER_STATUS = re.compile(r"returned HTTP error (\d{3})")


class MSTeamsV2Config(ChannelConfig):
    send_resolved: bool = True
    webhook_url: SecretStr | None = None  # the URL carries a signature: secret
    http_config: HTTPConfig = HTTPConfig()
    title: str = ""  # template; empty = built-in msteams.title.txt
    text: str = ""  # template; empty = built-in msteams.text.txt

    check_templates = template_field("title", "text")
    check_urls = url_field("webhook_url")

    @model_validator(mode="after")
    def _need_url(self) -> MSTeamsV2Config:
        if self.webhook_url is None or not self.webhook_url.get_secret_value():
            raise ValueError(f"webhook_url is required in {self._key()}")
        return self

    @classmethod
    def _key(cls) -> str:
        return "msteamsv2_configs"


class MSTeamsConfig(MSTeamsV2Config):
    summary: str = ""  # template; shown in notifications (card fallback text)

    check_summary = template_field("summary")

    @classmethod
    def _key(cls) -> str:
        return "msteams_configs"


def card_style(notification: Notification) -> str:
    if notification.status == "resolved":
        return "good"
    return SEVERITY_STYLES.get(severity_of(notification), "warning")


class MSTeamsV2Channel(Channel):
    kind: ClassVar[str] = "msteamsv2"
    config_key: ClassVar[str] = "msteamsv2_configs"
    Config = MSTeamsV2Config
    config: MSTeamsV2Config

    def card(self, notification: Notification) -> dict[str, Any]:
        cfg = self.config
        ctx = templating.context(notification)
        title = templating.render(cfg.title, "msteams.title.txt", ctx)
        text = templating.render(cfg.text, "msteams.text.txt", ctx)
        style = card_style(notification)
        facts = [
            {"title": k, "value": v}
            for k, v in sorted(notification.common("labels").items())
            if k != "alertname"
        ]
        body: list[dict[str, Any]] = [
            {
                "type": "Container",
                "style": style,
                "bleed": True,
                "items": [
                    {
                        "type": "TextBlock",
                        "text": title,
                        "weight": "Bolder",
                        "size": "Large",
                        "wrap": True,
                        "color": {
                            "attention": "Attention",
                            "warning": "Warning",
                            "good": "Good",
                        }.get(style, "Accent"),
                    }
                ],
            },
            {"type": "TextBlock", "text": text, "wrap": True},
        ]
        if facts:
            body.append({"type": "FactSet", "facts": facts})
        actions = []
        source = source_url(notification)
        if source:
            actions.append({"type": "Action.OpenUrl", "title": "Source", "url": source})
        runbook = runbook_url(notification)
        if runbook:
            actions.append({"type": "Action.OpenUrl", "title": "Runbook", "url": runbook})
        if notification.external_url:
            actions.append(
                {"type": "Action.OpenUrl", "title": "alertstream", "url": notification.external_url}
            )
        card: dict[str, Any] = {
            "$schema": CARD_SCHEMA,
            "type": "AdaptiveCard",
            "version": CARD_VERSION,
            "msteams": {"width": "Full"},
            "body": body,
        }
        if actions:
            card["actions"] = actions
        return card

    def render(self, notification: Notification) -> dict[str, Any]:
        cfg = self.config
        envelope: dict[str, Any] = {
            "type": "message",
            "attachments": [
                {
                    "contentType": CARD_CONTENT_TYPE,
                    "contentUrl": None,
                    "content": self.card(notification),
                }
            ],
        }
        summary = getattr(cfg, "summary", "")
        if summary:
            envelope["summary"] = templating.render_string(
                summary, templating.context(notification)
            )
        return http_request(
            cfg.webhook_url.get_secret_value(),
            envelope,
            options=cfg.http_config.options(cfg.attempt_timeout()),
            headers=cfg.http_config.auth_headers(),
        )

    def classify(self, status: int, headers: Any, text: str, latency: float) -> Outcome:
        if 200 <= status < 300 and (m := _INNER_STATUS.search(text)):
            return classify_http(int(m.group(1)), headers, text, latency)
        return classify_http(status, headers, text, latency)


class MSTeamsChannel(MSTeamsV2Channel):
    kind: ClassVar[str] = "msteams"
    config_key: ClassVar[str] = "msteams_configs"
    Config = MSTeamsConfig
    config: MSTeamsConfig
