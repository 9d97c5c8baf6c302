"""The ``receivers:`` section: Alertmanager's receiver blocks, one list per integration.

An Alertmanager ``receivers`` entry pastes in unchanged for the integrations we
speak; an integration we do not speak (``opsgenie_configs`` ...) or a typo'd key is
an error naming the key.  Each ``<kind>_configs`` entry is validated by that
channel's own config model (templates are syntax-checked there).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from channels.config_fields import ChannelConfig
from channels.email import EmailConfig
from channels.msteams import MSTeamsConfig, MSTeamsV2Config
from channels.pagerduty import PagerdutyConfig
from channels.registry import CHANNELS
from channels.slack import SlackConfig
from channels.sns import SNSConfig
from channels.twilio import TwilioConfig
from channels.webhook import WebhookConfig

# Alertmanager integrations alertstream does not implement (a clearer error than "extra").
UNSUPPORTED = (
    "discord_configs",
    "jira_configs",
    "opsgenie_configs",
    "pushover_configs",
    "rocketchat_configs",
    "telegram_configs",
    "victorops_configs",
    "webex_configs",
    "wechat_configs",
)
_NAME = re.compile(r"^[^\s/][^/]*$")


class Receiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str
    webhook_configs: list[WebhookConfig] = []
    email_configs: list[EmailConfig] = []
    slack_configs: list[SlackConfig] = []
    msteams_configs: list[MSTeamsConfig] = []
    msteamsv2_configs: list[MSTeamsV2Config] = []
    pagerduty_configs: list[PagerdutyConfig] = []
    sns_configs: list[SNSConfig] = []
    twilio_configs: list[TwilioConfig] = []

    @model_validator(mode="before")
    @classmethod
    def _unsupported(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in UNSUPPORTED:
                if data.get(key):
                    supported = ", ".join(sorted(c.config_key for c in CHANNELS.values()))
                    raise ValueError(
                        f"{key}: this Alertmanager integration is not supported by"
                        f" alertstream (supported: {supported})"
                    )
            # an empty list of an unsupported integration is harmless
            data = {k: v for k, v in data.items() if k not in UNSUPPORTED}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or not _NAME.match(value):
            raise ValueError(f"receiver name {value!r} must be non-empty, without '/'")
        return value

    def integrations(self) -> list[tuple[str, int, ChannelConfig]]:
        """(kind, index, config) for every configured integration, in a stable order."""
        kinds = {cls.config_key: kind for kind, cls in CHANNELS.items()}
        out: list[tuple[str, int, ChannelConfig]] = []
        for key in type(self).model_fields:
            if key in kinds:
                out.extend((kinds[key], i, cfg) for i, cfg in enumerate(getattr(self, key)))
        return out


__all__ = ["UNSUPPORTED", "Receiver"]
