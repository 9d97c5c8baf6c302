"""The channel interface: render a notification into one request, send that request.

Like Alertmanager's ``notify.Notifier`` a channel knows its protocol and nothing
else: retries, rate limits and circuit breaking live in ``channels.delivery``.

* ``render(notification) -> dict`` is pure.  The dict is the complete request
  (JSON-serialisable): it is what goes to the dead-letter queue and what
  ``dlq replay`` re-sends, so ``send`` must need nothing else.  Dead letters
  therefore hold credentials (Authorization headers, routing keys, SMTP
  passwords): the ``dlq`` topic needs the same access control as the
  configuration.  Receipts and logs only see ``channels.redaction``'s output.
* ``send(rendered) -> Outcome`` performs it once and classifies the answer in
  one place per channel: delivered, retry (maybe with ``retry_after``) or give up.

HTTP channels inherit ``send`` and only adjust ``classify`` when their service
answers in its own way (Slack's ``{"ok": false}``, Teams' 200 carrying a 429).
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp

from channels.config_fields import ChannelConfig
from channels.http import classify_http, send_http
from channels.outcome import Outcome
from channels.rate_limit import UNLIMITED, RateLimit
from models.notify.notification import Notification


class Channel:
    kind: ClassVar[str]  # the notification's channel and topic suffix ("slack")
    config_key: ClassVar[str]  # the receiver field holding its configs ("slack_configs")
    Config: ClassVar[type[ChannelConfig]]

    def __init__(
        self, config: ChannelConfig | None, session: aiohttp.ClientSession | None = None
    ) -> None:
        # ``config`` may be None when only replaying a stored request (send needs none).
        self.config = config
        self.session = session

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind}>"

    def render(self, notification: Notification) -> dict[str, Any]:
        raise NotImplementedError

    async def send(self, rendered: dict[str, Any]) -> Outcome:
        return await send_http(self.session, rendered, self.classify)

    def classify(self, status: int, headers: Any, text: str, latency: float) -> Outcome:
        return classify_http(status, headers, text, latency)

    @staticmethod
    def destination(rendered: dict[str, Any]) -> str:
        """What a circuit breaker guards: the URL's scheme://host:port for HTTP channels."""
        parts = urlsplit(rendered.get("url", ""))
        return f"{parts.scheme}://{parts.netloc}"

    @classmethod
    def rate_scope(cls, rendered: dict[str, Any]) -> tuple[str, RateLimit]:
        """What the provider's documented rate limit applies to, and that limit.

        The key is held in memory only (it may be a webhook URL or a routing key).
        Without a documented limit: the breaker's destination, UNLIMITED."""
        return cls.destination(rendered), UNLIMITED
