"""Twilio SMS: the Messages API.

``POST {api_url}/2010-04-01/Accounts/{account_sid}/Messages.json`` with the form
fields ``To``, ``From`` and ``Body`` and HTTP basic auth (account SID, auth token).
201 Created is success; 429 and 5xx retry; 400 (bad number, unverified sender) and
401 give up.  The body is one 160-character segment, alert name and severity first.
Not an Alertmanager integration; field names follow Twilio's API.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote

from pydantic import Field, SecretStr, model_validator

from channels.channel import Channel
from channels.config_fields import ChannelConfig, template_field, url_field
from channels.http import http_request
from channels.http_config import basic_auth_header
from channels.rate_limit import RateLimit
from channels.sns import sms_text
from models.notify.notification import Notification

DEFAULT_API_URL = "https://api.twilio.com"
# Twilio: a long code sends 1 message segment per second (queued beyond that), and
# "messages cannot be sent more than 15 times in a 30 second window between your
# Twilio phone number and another number" (Twilio help center, sending limits).
# 0.5/s per sender and recipient keeps under both.
SMS_RATE = RateLimit(rate=0.5, burst=1.0)


class TwilioConfig(ChannelConfig):
    send_resolved: bool = True
    account_sid: str
    auth_token: SecretStr
    from_: str = Field("", alias="from")  # 'from' in YAML: a Twilio number or messaging service SID
    to: str
    api_url: str = DEFAULT_API_URL
    message: str = ""  # template; empty = built-in sms.txt

    check_templates = template_field("message")
    check_urls = url_field("api_url")

    @model_validator(mode="after")
    def _required(self) -> TwilioConfig:
        if not self.from_:
            raise ValueError("from is required in twilio_configs")
        if not self.auth_token.get_secret_value():
            raise ValueError("auth_token is required in twilio_configs")
        return self


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
        form = {"To": cfg.to, "From": cfg.from_, "Body": sms_text(notification, cfg.message)}
        if cfg.from_.startswith("MG"):  # a messaging service SID, not a number
            form["MessagingServiceSid"] = form.pop("From")
        return http_request(
            url,
            form,
            form=True,
            headers=basic_auth_header(cfg.account_sid, cfg.auth_token.get_secret_value()),
            options={"timeout": cfg.attempt_timeout()},
        )

    @classmethod
    def rate_scope(cls, rendered: dict[str, Any]) -> tuple[str, RateLimit]:
        """Per sender (number or messaging service) and recipient."""
        form = dict(parse_qsl(rendered["body"]))
        sender = form.get("From") or form.get("MessagingServiceSid", "")
        return f"twilio:{sender}>{form.get('To', '')}", SMS_RATE
