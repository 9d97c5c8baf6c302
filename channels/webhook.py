"""Generic webhook: POST Alertmanager's webhook payload (version 4) as JSON.

Extras over Alertmanager: an ``Idempotency-Key`` header (the notification id, the
same on every retry and replay) and, when ``secret`` is set,
``X-Alertstream-Signature: sha256=<hex HMAC-SHA256 of the exact body>``.
Webhooks feed automation, so, as in Alertmanager, nothing throttles them by default.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, ClassVar

from pydantic import SecretStr, model_validator

from channels.channel import Channel
from channels.config_fields import ChannelConfig, url_field
from channels.http import http_request
from channels.http_config import HTTPConfig
from models.notify.notification import Notification

SIGNATURE_HEADER = "X-Alertstream-Signature"


def sign(body: str | bytes, secret: str) -> str:
    data = body.encode() if isinstance(body, str) else body
    return "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


class WebhookConfig(ChannelConfig):
    send_resolved: bool = True
    url: SecretStr | None = None  # may carry a token, so it never shows in repr
    http_config: HTTPConfig = HTTPConfig()
    max_alerts: int = 0  # 0 = unlimited; the rest counted in truncatedAlerts
    secret: SecretStr | None = None  # HMAC-SHA256 signing secret

    _url = url_field("url")

    @model_validator(mode="after")
    def _need_url(self) -> WebhookConfig:
        if self.url is None or not self.url.get_secret_value():
            raise ValueError("url is required in webhook_configs")
        if self.max_alerts < 0:
            raise ValueError("max_alerts cannot be negative")
        return self


class WebhookChannel(Channel):
    kind: ClassVar[str] = "webhook"
    config_key: ClassVar[str] = "webhook_configs"
    Config = WebhookConfig
    config: WebhookConfig

    def render(self, notification: Notification) -> dict[str, Any]:
        cfg = self.config
        payload = notification.payload()
        if cfg.max_alerts and len(payload["alerts"]) > cfg.max_alerts:
            cut = len(payload["alerts"]) - cfg.max_alerts
            payload["alerts"] = payload["alerts"][: cfg.max_alerts]
            payload["truncatedAlerts"] = notification.truncated_alerts + cut
        headers = {"Idempotency-Key": notification.id}
        headers.update(cfg.http_config.auth_headers())
        req = http_request(
            cfg.url.get_secret_value(),
            payload,
            headers=headers,
            options=cfg.http_config.options(cfg.attempt_timeout()),
        )
        if cfg.secret is not None:
            req["headers"][SIGNATURE_HEADER] = sign(req["body"], cfg.secret.get_secret_value())
        return req
