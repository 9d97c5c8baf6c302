"""The channels' templates: built-in files and the ones users write in a receiver's config.

Built-in templates live in ``channels/templates`` and render with ``StrictUndefined``
(a typo in our own template fails the tests, not a page at 3 a.m.); ``.html``
files are autoescaped.  Templates written by users (``title``, ``text``,
``html``, ...) render through an overlay of the same environment with a lenient
undefined (a label that only some alerts carry renders empty) and are
syntax-checked by ``check_template`` when the config is validated.  Both come from
the one sandbox factory in ``models.template_sandbox``.

Every template sees the fields of ``Notification.payload()`` (``receiver``,
``status``, ``alerts``, ``groupLabels``, ``commonLabels``, ``commonAnnotations``,
``externalURL``, ``tenant``, ``groupKey``, ``truncatedAlerts``) plus
``firing_alerts``, ``resolved_alerts`` and ``action_links`` (op -> signed URL, on
escalation pages).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    ChainableUndefined,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    select_autoescape,
)

from models.notify.notification import Notification
from models.template_sandbox import parse_check, sandboxed_environment

TEMPLATE_DIR = Path(__file__).parent / "templates"


class TemplateRenderError(RuntimeError):
    """A template that parsed but failed while rendering (give up: retrying won't help)."""


def _mrkdwn(text: object) -> str:
    """Escape the three characters Slack's mrkdwn treats as control sequences."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


ENV = sandboxed_environment(
    loader=FileSystemLoader(str(TEMPLATE_DIR)),
    undefined=StrictUndefined,
    autoescape=select_autoescape(enabled_extensions=("html", "htm"), default_for_string=False),
    trim_blocks=True,
)
ENV.filters["mrkdwn"] = _mrkdwn

# User templates: same sandbox, filters and cache, lenient about missing keys.
_USER_TEXT = ENV.overlay(undefined=ChainableUndefined, autoescape=False)
_USER_HTML = ENV.overlay(undefined=ChainableUndefined, autoescape=True)


def check_template(source: str, *, html: bool = False) -> None:
    """Raise ``TemplateConfigError`` (a ValueError) with the reason if ``source`` won't parse."""
    parse_check(_USER_HTML if html else _USER_TEXT, source)


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool):
    return (_USER_HTML if html else _USER_TEXT).from_string(source)


def context(notification: Notification) -> dict[str, Any]:
    ctx = notification.payload()
    ctx["firing_alerts"] = notification.firing()
    ctx["resolved_alerts"] = notification.resolved()
    # an escalation page's signed ack / resolve links (agents/escalation.py), else none
    ctx["action_links"] = (notification.extra.get("escalation") or {}).get("links") or {}
    return ctx


def render_string(source: str, ctx: dict[str, Any], *, html: bool = False) -> str:
    """Render a user template from the config."""
    try:
        return _compiled(source, html).render(ctx).strip()
    except TemplateError as exc:
        raise TemplateRenderError(f"template failed: {exc}") from None


def render_file(name: str, ctx: dict[str, Any]) -> str:
    """Render a built-in template from channels/templates."""
    return ENV.get_template(name).render(ctx).strip()


def render(source: str | None, default: str, ctx: dict[str, Any], *, html: bool = False) -> str:
    """The user's template if configured, else the built-in file ``default``."""
    if source:
        return render_string(source, ctx, html=html)
    return render_file(default, ctx)
