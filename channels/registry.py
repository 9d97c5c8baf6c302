"""Every channel alertstream speaks, by kind: the one list to extend with a new integration.

Listed here rather than registered by import side effects, so whoever imports
``CHANNELS`` gets all of them whatever else was imported first.
"""

from __future__ import annotations

from types import MappingProxyType

from channels.channel import Channel
from channels.email import EmailChannel
from channels.msteams import MSTeamsChannel, MSTeamsV2Channel
from channels.pagerduty import PagerdutyChannel
from channels.slack import SlackChannel
from channels.sns import SNSChannel
from channels.twilio import TwilioChannel
from channels.webhook import WebhookChannel

_ALL: tuple[type[Channel], ...] = (
    WebhookChannel,
    EmailChannel,
    SlackChannel,
    MSTeamsChannel,
    MSTeamsV2Channel,
    PagerdutyChannel,
    SNSChannel,
    TwilioChannel,
)

CHANNELS: MappingProxyType[str, type[Channel]] = MappingProxyType({c.kind: c for c in _ALL})
if len(CHANNELS) != len(_ALL):
    raise ValueError("two channels share a kind")
