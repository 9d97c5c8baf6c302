"""The verdict of one send attempt, classified once by the channel that knows the protocol.

Like Alertmanager's notifiers returning (retryable, error): the channel says
delivered, retry (maybe with the peer's ``retry_after``) or give up, and the one
retry loop in ``channels.delivery`` acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DELIVERED = "delivered"
RETRY = "retry"
GIVE_UP = "give_up"

DETAIL_MAX = 300


@dataclass(slots=True)
class Outcome:
    """The result of one send attempt."""

    kind: str  # delivered | retry | give_up
    status: int | None = None  # HTTP status or SMTP reply code, when there is one
    detail: str = ""
    latency: float = 0.0
    retry_after: float | None = None  # seconds the peer asked us to wait
    throttled: bool = False  # the peer is alive but rate limiting: not a breaker failure
    # state to remember for later notifications of the same group (e.g. Slack's
    # {"channel", "ts"} of the posted message, used by chat.update on resolve)
    state: dict[str, Any] | None = None

    @classmethod
    def delivered(cls, status: int | None = None, detail: str = "", **kw: Any) -> Outcome:
        return cls(DELIVERED, status, shorten(detail), **kw)

    @classmethod
    def retry(cls, status: int | None = None, detail: str = "", **kw: Any) -> Outcome:
        return cls(RETRY, status, shorten(detail), **kw)

    @classmethod
    def give_up(cls, status: int | None = None, detail: str = "", **kw: Any) -> Outcome:
        return cls(GIVE_UP, status, shorten(detail), **kw)

    @property
    def ok(self) -> bool:
        return self.kind == DELIVERED


def shorten(text: str, limit: int = DETAIL_MAX) -> str:
    """One line of at most ``limit`` characters: error details go into receipts and logs."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
