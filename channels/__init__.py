"""Notification channels: one module per integration, all listed in ``channels.registry``."""

from channels.channel import Channel
from channels.outcome import Outcome
from channels.registry import CHANNELS

__all__ = ["CHANNELS", "Channel", "Outcome"]
