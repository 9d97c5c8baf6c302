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

import orjson
from pydantic import SecretStr, model_validator

from channels import templating
from channels.base import (
    DEFAULT_TIMEOUT,
    Channel,
    ChannelConfig,
    HTTPConfig,
    Outcome,
    Strict,
    classify_http,
    http_request,
    register,
    severity_of,
    template_field,
    url_field,
)
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
    timeout: Duration = DEFAULT_TIMEOUT

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
    text = text or " "
    return {"type": "plain_text", "text": text[: limit - 1] + "…" if len(text) > limit else text}


def _mrkdwn(text: str, limit: int = 3000) -> dict[str, Any]:
    text = text or " "
    return {"type": "mrkdwn", "text": text[: limit - 1] + "…" if len(text) > limit else text}


@register
class SlackChannel(Channel):
    kind: ClassVar[str] = "slack"
    config_key: ClassVar[str] = "slack_configs"
    Config = SlackConfig
    config: SlackConfig

    def message(self, notification: Notification) -> dict[str, Any]:
        """The Block Kit message body (without channel/ts routing)."""
        cfg = self.config
        ctx = templating.context(notification)
        firing = notification.status == "firing"
        title = templating.render(cfg.title, "slack.title.txt", ctx)
        text = templating.render(cfg.text, "slack.text.txt", ctx)
        sev = severity_of(notification)
        if cfg.color:
            colour = templating.render_string(cfg.color, ctx)
        else:
            colour = SEVERITY_COLOURS.get(sev, "#ECB22E") if firing else RESOLVED_COLOUR

        blocks: list[dict[str, Any]] = []
        if cfg.pretext:
            blocks.append(
                {"type": "section", "text": _mrkdwn(templating.render_string(cfg.pretext, ctx))}
            )
        blocks.append({"type": "section", "text": _mrkdwn(text)})

        labels = {
            k: v
            for k, v in sorted(notification.common("labels").items())
            if k not in ("alertname", "tenant")
        }
        fields = [_mrkdwn(f"*{k}*\n{v}", 2000) for k, v in labels.items()]
        fields += [
            _mrkdwn(
                _field(
                    templating.render_string(f.title, ctx), templating.render_string(f.value, ctx)
                ),
                2000,
            )
            for f in cfg.fields
        ]
        if fields:
            blocks.append({"type": "section", "fields": fields[:10]})

        context = [f"tenant `{notification.tenant}`", f"receiver `{notification.receiver}`"]
        if cfg.footer:
            context.append(templating.render_string(cfg.footer, ctx))
        blocks.append({"type": "context", "elements": [_mrkdwn(" · ".join(context), 2000)]})

        buttons: list[dict[str, Any]] = []
        if firing and cfg.interactive:
            buttons += [
                {
                    "type": "button",
                    "action_id": ACTION_IDS["ack"],
                    "text": _plain("Acknowledge", 75),
                    "style": "primary",
                    "value": button_value("ack", notification),
                },
                {
                    "type": "button",
                    "action_id": ACTION_IDS["resolve"],
                    "text": _plain("Resolve", 75),
                    "value": button_value("resolve", notification),
                },
                {
                    "type": "button",
                    "action_id": SILENCE_ACTION_ID,
                    "text": _plain(f"Silence {_human(cfg.silence_duration)}", 75),
                    "style": "danger",
                    "value": button_value("silence", notification, duration=cfg.silence_duration),
                },
            ]
        annotations = notification.common("annotations")
        runbook = annotations.get("runbook_url") or next(
            (
                a["annotations"]["runbook_url"]
                for a in notification.alerts
                if a["annotations"].get("runbook_url")
            ),
            "",
        )
        if runbook:
            buttons.append(
                {
                    "type": "button",
                    "action_id": "alertstream_runbook",
                    "text": _plain("Runbook", 75),
                    "url": runbook,
                }
            )
        source = next((a["generatorURL"] for a in notification.alerts if a.get("generatorURL")), "")
        if source:
            buttons.append(
                {
                    "type": "button",
                    "action_id": "alertstream_source",
                    "text": _plain("Source", 75),
                    "url": source,
                }
            )
        for i, action in enumerate(cfg.actions):
            if action.url:
                btn = {
                    "type": "button",
                    "action_id": f"alertstream_link_{i}",
                    "text": _plain(templating.render_string(action.text, ctx), 75),
                    "url": templating.render_string(action.url, ctx),
                }
                if action.style in ("primary", "danger"):
                    btn["style"] = action.style
                buttons.append(btn)
        if buttons:
            blocks.append(
                {"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": buttons[:25]}
            )

        header: dict[str, Any] = {"type": "header", "text": _plain(title, 150)}
        if cfg.title_link:
            header = {
                "type": "section",
                "text": _mrkdwn(f"*<{templating.render_string(cfg.title_link, ctx)}|{title}>*"),
            }
        body: dict[str, Any] = {
            "text": title,  # the notification / fallback text
            "blocks": [header],
            "attachments": [
                {
                    "color": colour,
                    "fallback": templating.render_string(cfg.fallback, ctx)
                    if cfg.fallback
                    else title,
                    "blocks": blocks,
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
        options = cfg.http_config.options(cfg.timeout or DEFAULT_TIMEOUT)
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


def _field(title: str, value: str) -> str:
    return f"*{title}*\n{value}"


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
