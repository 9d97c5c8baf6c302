"""Slack: Block Kit messages through an incoming webhook or the Web API.

* ``api_url`` alone: an incoming webhook (``https://hooks.slack.com/services/...``),
  answered with ``200 ok``.
* a bot token (``http_config.authorization.credentials`` or ``token``): the Web API,
  ``chat.postMessage`` at ``api_url`` or ``{api_base_url}/chat.postMessage``, answered
  with ``200 {"ok": true, "channel", "ts"}``.  The Outcome carries
  ``state={"channel", "ts"}``; when that state comes back in
  ``notification.extra["channel_state"]`` for a resolved group, the original message
  is edited in place with ``chat.update`` instead of posting a new one.

Firing messages carry interactive buttons (Acknowledge / Resolve / Silence 1h) whose
``value`` is JSON ``{"action", "tenant", "group_key"}`` (or ``"fingerprint"`` when the
group key does not fit Slack's 2000-character limit); ``channels.slack_interactions``
verifies and parses the clicks.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
from pydantic import SecretStr, model_validator

from channels import templating
from channels.channel import Channel
from channels.config_fields import ChannelConfig, Strict, template_field, url_field
from channels.content import runbook_url, severity_of, source_url, truncate
from channels.http import classify_http, http_request
from channels.http_config import HTTPConfig
from channels.outcome import Outcome
from channels.rate_limit import RateLimit
from models.durations import Duration
from models.notify.notification import Notification

DEFAULT_API_BASE = "https://slack.com/api"
ACTIONS_BLOCK_ID = "alertstream_actions"
ACTION_IDS = {"ack": "alertstream_ack", "resolve": "alertstream_resolve"}
SILENCE_ACTION_ID = "alertstream_silence"
BUTTON_VALUE_MAX = 2000

SEVERITY_COLOURS = {
    "critical": "#E01E5A",
    "error": "#E01E5A",
    "high": "#E01E5A",
    "warning": "#ECB22E",
    "medium": "#ECB22E",
    "low": "#36C5F0",
    "info": "#36C5F0",
}
RESOLVED_COLOUR = "#2EB67D"
# "chat.postMessage generally allows posting one message per second per channel";
# incoming webhooks likewise ("no more than one message per second", short bursts
# allowed): Slack API docs, Rate limits.  Past it Slack answers 429 and may disable
# an app that keeps going.
MESSAGE_RATE = RateLimit(rate=1.0, burst=3.0)

# Web API errors worth retrying (everything else is a configuration problem).
RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackField(Strict):
    title: str
    value: str
    short: bool | None = None


class SlackConfirm(Strict):
    text: str
    title: str = ""
    ok_text: str = ""
    dismiss_text: str = ""


class SlackAction(Strict):
    """Alertmanager's extra link buttons; ``url`` buttons are rendered as Block Kit buttons."""

    type: str = "button"
    text: str
    url: str = ""
    style: str = ""
    name: str = ""
    value: str = ""
    confirm: SlackConfirm | None = None


class SlackConfig(ChannelConfig):
    send_resolved: bool = False
    api_url: SecretStr | None = None  # webhook URL (secret) or Web API method URL
    token: SecretStr | None = None  # bot token; same as http_config.authorization
    api_base_url: str = DEFAULT_API_BASE
    http_config: HTTPConfig = HTTPConfig()
    channel: str = ""
    username: str = ""
    icon_emoji: str = ""
    icon_url: str = ""
    color: str = ""  # template; empty = colour by severity
    title: str = ""  # template; empty = built-in slack.title.txt
    title_link: str = ""
    pretext: str = ""
    text: str = ""  # template; empty = built-in slack.text.txt
    fields: list[SlackField] = []
    short_fields: bool = False
    footer: str = ""
    fallback: str = ""
    callback_id: str = ""
    image_url: str = ""
    thumb_url: str = ""
    link_names: bool = False
    mrkdwn_in: list[str] = []
    actions: list[SlackAction] = []
    interactive: bool = True  # Acknowledge / Resolve / Silence 1h buttons
    silence_duration: Duration = 3600.0
    update_on_resolve: bool = True  # chat.update the original message (Web API only)

    check_templates = template_field("color", "title", "title_link", "pretext", "text")
    check_urls = url_field("api_url", "api_base_url")

    @model_validator(mode="after")
    def _target(self) -> SlackConfig:
        if self.api_url is None and not self.bot_token():
            raise ValueError("slack_configs need api_url (incoming webhook) or a bot token")
        if self.bot_token() and not self.channel:
            raise ValueError("channel is required when posting with a bot token")
        return self

    def bot_token(self) -> str:
        if self.token is not None and self.token.get_secret_value():
            return self.token.get_secret_value()
        auth = self.http_config.authorization
        if auth is not None and auth.credentials.get_secret_value():
            return auth.credentials.get_secret_value()
        return ""

    def method_url(self, method: str) -> str:
        if self.api_url is not None:
            url = self.api_url.get_secret_value()
            head, _, tail = url.rpartition("/")
            if tail.startswith("chat."):
                return f"{head}/{method}"
            return url.rstrip("/") + "/" + method
        return self.api_base_url.rstrip("/") + "/" + method


def button_value(action: str, notification: Notification, **extra: Any) -> str:
    value: dict[str, Any] = {"action": action, "tenant": notification.tenant}
    value["group_key"] = notification.group_key
    value.update(extra)
    text = orjson.dumps(value).decode()
    if len(text) > BUTTON_VALUE_MAX and notification.alerts:
        del value["group_key"]
        value["fingerprint"] = notification.alerts[0]["fingerprint"]
        text = orjson.dumps(value).decode()
    return text


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text or " ", limit)}


def _mrkdwn(text: str, limit: int = 3000) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text or " ", limit)}


def _button(action_id: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": _plain(label, 75), **extra}


def colour(cfg: SlackConfig, notification: Notification, ctx: dict[str, Any]) -> str:
    """The configured colour template, else by severity while firing, green when resolved."""
    if cfg.color:
        return templating.render_string(cfg.color, ctx)
    if notification.status != "firing":
        return RESOLVED_COLOUR
    return SEVERITY_COLOURS.get(severity_of(notification), "#ECB22E")


def header_block(cfg: SlackConfig, title: str, ctx: dict[str, Any]) -> dict[str, Any]:
    """The title as a header, or as a bold link when ``title_link`` is set."""
    if not cfg.title_link:
        return {"type": "header", "text": _plain(title, 150)}
    link = templating.render_string(cfg.title_link, ctx)
    return {"type": "section", "text": _mrkdwn(f"*<{link}|{title}>*")}


def fields_block(
    cfg: SlackConfig, notification: Notification, ctx: dict[str, Any]
) -> dict[str, Any] | None:
    """Common labels (but alertname and tenant) then configured fields, at most ten."""
    labels = sorted(notification.common("labels").items())
    texts = [_field(k, v) for k, v in labels if k not in ("alertname", "tenant")]
    texts += [
        _field(templating.render_string(f.title, ctx), templating.render_string(f.value, ctx))
        for f in cfg.fields
    ]
    if not texts:
        return None
    return {"type": "section", "fields": [_mrkdwn(t, 2000) for t in texts[:10]]}


def context_block(
    cfg: SlackConfig, notification: Notification, ctx: dict[str, Any]
) -> dict[str, Any]:
    parts = [f"tenant `{notification.tenant}`", f"receiver `{notification.receiver}`"]
    if cfg.footer:
        parts.append(templating.render_string(cfg.footer, ctx))
    return {"type": "context", "elements": [_mrkdwn(" · ".join(parts), 2000)]}


def command_buttons(cfg: SlackConfig, notification: Notification) -> list[dict[str, Any]]:
    """Acknowledge / Resolve / Silence, while firing (``channels.slack_interactions``)."""
    if notification.status != "firing" or not cfg.interactive:
        return []
    n, duration = notification, cfg.silence_duration
    return [
        _button(ACTION_IDS["ack"], "Acknowledge", style="primary", value=button_value("ack", n)),
        _button(ACTION_IDS["resolve"], "Resolve", value=button_value("resolve", n)),
        _button(
            SILENCE_ACTION_ID,
            f"Silence {_human(duration)}",
            style="danger",
            value=button_value("silence", n, duration=duration),
        ),
    ]


def link_buttons(
    cfg: SlackConfig, notification: Notification, ctx: dict[str, Any]
) -> list[dict[str, Any]]:
    """Runbook, source and the configured link ``actions``."""
    buttons = []
    if runbook := runbook_url(notification):
        buttons.append(_button("alertstream_runbook", "Runbook", url=runbook))
    if source := source_url(notification):
        buttons.append(_button("alertstream_source", "Source", url=source))
    for i, action in enumerate(cfg.actions):
        if not action.url:
            continue
        btn = _button(
            f"alertstream_link_{i}",
            templating.render_string(action.text, ctx),
            url=templating.render_string(action.url, ctx),
        )
        if action.style in ("primary", "danger"):
            btn["style"] = action.style
        buttons.append(btn)
    return buttons


def attachment_blocks(
    cfg: SlackConfig, notification: Notification, ctx: dict[str, Any]
) -> list[dict[str, Any]]:
    """Pretext, text, fields, context line, then the buttons."""
    blocks = []
    if cfg.pretext:
        blocks.append(
            {"type": "section", "text": _mrkdwn(templating.render_string(cfg.pretext, ctx))}
        )
    text = templating.render(cfg.text, "slack.text.txt", ctx)
    blocks.append({"type": "section", "text": _mrkdwn(text)})
    if fields := fields_block(cfg, notification, ctx):
        blocks.append(fields)
    blocks.append(context_block(cfg, notification, ctx))
    buttons = command_buttons(cfg, notification) + link_buttons(cfg, notification, ctx)
    if buttons:
        blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": buttons[:25]})
    return blocks


class SlackChannel(Channel):
    kind: ClassVar[str] = "slack"
    config_key: ClassVar[str] = "slack_configs"
    Config = SlackConfig
    config: SlackConfig

    def message(self, notification: Notification) -> dict[str, Any]:
        """The Block Kit message body (without channel/ts routing)."""
        cfg = self.config
        ctx = templating.context(notification)
        title = templating.render(cfg.title, "slack.title.txt", ctx)
        fallback = templating.render_string(cfg.fallback, ctx) if cfg.fallback else title
        body: dict[str, Any] = {
            "text": title,  # the notification / fallback text
            "blocks": [header_block(cfg, title, ctx)],
            "attachments": [
                {
                    "color": colour(cfg, notification, ctx),
                    "fallback": fallback,
                    "blocks": attachment_blocks(cfg, notification, ctx),
                }
            ],
        }
        for key in ("username", "icon_emoji", "icon_url"):
            if getattr(cfg, key):
                body[key] = getattr(cfg, key)
        if cfg.link_names:
            body["link_names"] = True
        return body

    def render(self, notification: Notification) -> dict[str, Any]:
        cfg = self.config
        body = self.message(notification)
        options = cfg.http_config.options(cfg.attempt_timeout())
        token = cfg.bot_token()
        if not token:
            if cfg.channel:
                body["channel"] = cfg.channel
            req = http_request(cfg.api_url.get_secret_value(), body, options=options)
            req["slack_api"] = "webhook"
            return req
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json; charset=utf-8",
        }
        state = notification.extra.get("channel_state") or {}
        if (
            notification.status == "resolved"
            and cfg.update_on_resolve
            and state.get("channel")
            and state.get("ts")
        ):
            body.update(channel=state["channel"], ts=state["ts"])
            method = "chat.update"
        else:
            body["channel"] = cfg.channel
            method = "chat.postMessage"
        req = http_request(cfg.method_url(method), body, headers=headers, options=options)
        req["slack_api"] = method
        return req

    def classify(self, status: int, headers: Any, text: str, latency: float) -> Outcome:
        outcome = classify_http(status, headers, text, latency)
        if not outcome.ok or not text.lstrip().startswith("{"):
            return outcome  # incoming webhooks answer plain "ok"
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            return outcome
        if doc.get("ok") is False:
            error = str(doc.get("error", "unknown_error"))
            if error in RETRYABLE_ERRORS:
                return Outcome.retry(
                    status, f"slack: {error}", latency=latency, throttled=error == "ratelimited"
                )
            return Outcome.give_up(status, f"slack: {error}", latency=latency)
        state = None
        if doc.get("channel") and doc.get("ts"):
            state = {"channel": doc["channel"], "ts": doc["ts"]}
        return Outcome.delivered(status, "ok", latency=latency, state=state)

    @classmethod
    def rate_scope(cls, rendered: dict[str, Any]) -> tuple[str, RateLimit]:
        """One Slack channel: a webhook URL posts to one, the Web API names it."""
        if rendered.get("slack_api") == "webhook":
            return "slack:" + rendered["url"], MESSAGE_RATE
        channel = orjson.loads(rendered["body"]).get("channel", "")
        return f"slack:{urlsplit(rendered['url']).netloc}#{channel}", MESSAGE_RATE


def _field(title: str, value: str) -> str:
    return f"*{title}*\n{value}"


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
