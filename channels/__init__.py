"""Notification channels: one module per integration, registered in ``CHANNELS`` by kind."""

from channels import email, msteams, pagerduty, slack, sns, twilio, webhook  # noqa: F401
from channels.base import CHANNELS, Channel, Outcome

__all__ = ["CHANNELS", "Channel", "Outcome"]
