"""Twilio SMS: the Messages API.

``POST {api_url}/2010-04-01/Accounts/{account_sid}/Messages.json`` with the form
fields ``To``, ``From`` and ``Body`` and HTTP basic auth (account SID, auth token).
201 Created is success; 429 and 5xx retry; 400 (bad number, unverified sender) and
401 give up.  The body is one 160-character segment, alert name and severity first.
Not an Alertmanager integration; field names follow Twilio's API.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, SecretStr, model_validator

from channels.base import (
    DEFAULT_TIMEOUT,
    Channel,
    ChannelConfig,
    http_request,
    register,
    template_field,
    url_field,
)
from channels.sns import sms_text
from models.durations import Duration
from models.notify.notification import Notification

DEFAULT_API_URL = "https://api.twilio.com"


class TwilioConfig(ChannelConfig):
    send_resolved: bool = True
    account_sid: str
    auth_token: SecretStr
    from_: str = Field("", alias="from")  # 'from' in YAML: a Twilio number or messaging service SID
    to: str
    api_url: str = DEFAULT_API_URL
    message: str = ""  # template; empty = built-in sms.txt
    timeout: Duration = DEFAULT_TIMEOUT

    check_templates = template_field("message")
    check_urls = url_field("api_url")

    @model_validator(mode="after")
    def _required(self) -> TwilioConfig:
        if not self.from_:
            raise ValueError("from is required in twilio_configs")
        if not self.auth_token.get_secret_value():
            raise ValueError("auth_token is required in twilio_configs")
        return self


@register
class TwilioChannel(Channel):
    kind: ClassVar[str] = "twilio"
    config_key: ClassVar[str] = "twilio_configs"
    Config = TwilioConfig
    config: TwilioConfig

    def render(self, notification: Notification) -> dict[str, Any]:
        cfg = self.config
        url = (
            f"{cfg.api_url.rstrip('/')}/2010-04-01/Accounts/"
            f"{quote(cfg.account_sid, safe='')}/Messages.json"
        )
        raw = f"{cfg.account_sid}:{cfg.auth_token.get_secret_value()}".encode()
        form = {"To": cfg.to, "From": cfg.from_, "Body": sms_text(notification, cfg.message)}
        if cfg.from_.startswith("MG"):  # a messaging service SID, not a number
            form["MessagingServiceSid"] = form.pop("From")
        return http_request(
            url,
            form,
            form=True,
            headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
            options={"timeout": cfg.timeout or DEFAULT_TIMEOUT},
        )
