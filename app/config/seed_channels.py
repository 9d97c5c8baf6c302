"""The seed's ``notification_channels`` turned into receivers and a route.

The seed's client took its channels as a dict::

    {"email": {"enabled": True, "smtp_host": "smtp.example.com", "smtp_port": 587,
               "username": "alerts", "password": "...", "to_emails": ["ops@example.com"]},
     "slack": {"enabled": True, "webhook_url": "https://hooks.slack.com/...",
               "default_channel": "#alerts"}}

Here a channel is a receiver of the pipeline, so each enabled channel becomes one
receiver (named after the channel), validated by the worker's own receiver schema, and
one route sends every alert to all of them.  Keys the seed did not have, and channels we
cannot map, are refused with every reason at once rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from app.config.receivers import Receiver

KEYS: dict[str, frozenset[str]] = {
    "email": frozenset(
        {
            "enabled",
            "smtp_host",
            "smtp_port",
            "username",
            "password",
            "use_tls",
            "from_email",
            "to_emails",
        }
    ),
    "slack": frozenset({"enabled", "webhook_url", "default_channel", "username"}),
    "webhook": frozenset({"enabled", "url"}),
}
"""The keys each seed channel accepts."""


class ChannelsError(ValueError):
    """``notification_channels`` cannot be turned into receivers: every reason."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("notification_channels: " + "; ".join(errors))
        self.errors = errors


def _email(c: Mapping[str, Any]) -> dict[str, Any]:
    to = c.get("to_emails")
    config: dict[str, Any] = {
        "to": ", ".join(to) if isinstance(to, list | tuple) else to,
        "from": c.get("from_email") or c.get("username") or "",
        "smarthost": f"{c.get('smtp_host')}:{c.get('smtp_port', 587)}",
        "auth_username": c.get("username", ""),
        "auth_password": c.get("password", ""),
        "require_tls": bool(c.get("use_tls", True)),
        "send_resolved": True,
    }
    return {"email_configs": [{k: v for k, v in config.items() if v is not None}]}


def _slack(c: Mapping[str, Any]) -> dict[str, Any]:
    config = {
        "api_url": c.get("webhook_url"),
        "channel": c.get("default_channel", ""),
        "username": c.get("username", ""),
        "send_resolved": True,
    }
    return {"slack_configs": [config]}


def _webhook(c: Mapping[str, Any]) -> dict[str, Any]:
    return {"webhook_configs": [{"url": c.get("url")}]}


_BUILD: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "email": _email,
    "slack": _slack,
    "webhook": _webhook,
}
_REQUIRED = {"email": ("smtp_host", "to_emails"), "slack": ("webhook_url",), "webhook": ("url",)}


def receivers_from_channels(channels: Any) -> list[dict[str, Any]]:
    """The enabled channels as receiver blocks of a pipelines file, each checked by the
    worker's receiver schema (the blocks, not the parsed models, are returned: a parsed
    model hides its secrets when dumped); ChannelsError names every problem."""
    if not isinstance(channels, Mapping):
        raise ChannelsError(["expected a mapping of channel name to its settings"])
    errors: list[str] = []
    out: list[dict[str, Any]] = []
    for name, settings in channels.items():
        if name not in KEYS:
            errors.append(f"{name}: unknown channel (known: {', '.join(KEYS)})")
            continue
        if not isinstance(settings, Mapping):
            errors.append(f"{name}: expected a mapping of settings")
            continue
        unknown = sorted(set(settings) - KEYS[name])
        errors += [f"{name}.{key}: unknown key" for key in unknown]
        if not settings.get("enabled", True) or unknown:
            continue
        missing = [k for k in _REQUIRED[name] if not settings.get(k)]
        if missing:
            errors += [f"{name}.{key}: required when the channel is enabled" for key in missing]
            continue
        block = {"name": name, **_BUILD[name](settings)}
        try:
            Receiver.model_validate(block)
            out.append(block)
        except ValidationError as exc:
            errors += [
                f"{name}: {'.'.join(str(p) for p in e['loc'][2:]) or e['loc'][0]}: {e['msg']}"
                for e in exc.errors(include_url=False)
            ]
    if errors:
        raise ChannelsError(errors)
    return out


def tenant_config(receivers: list[dict[str, Any]]) -> dict[str, Any]:
    """A tenant config (``PUT /api/v1/config/{tenant}``) sending every alert to every one
    of ``receivers``: the root route names the first, child routes with ``continue``
    fan out to all of them.  No ``group_wait``: the seed's ``send_alert`` notified at
    once."""
    names = [r["name"] for r in receivers]
    return {
        "route": {
            "receiver": names[0],
            "group_by": ["alertname"],
            "group_wait": "0s",
            "routes": [{"receiver": n, "continue": True} for n in names],
        },
        "receivers": receivers,
    }
