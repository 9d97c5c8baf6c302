"""One sandboxed Jinja2 environment for every channel template.

Built-in templates live in ``channels/templates`` and render with ``StrictUndefined``
(a typo in our own template fails the tests, not a page at 3 a.m.); ``.html``
files are autoescaped.  Templates written by users in a receiver's config
(``title``, ``text``, ``html``, ...) render through an overlay of the same
environment with a lenient undefined (a label that only some alerts carry renders
empty) and are syntax-checked by ``check_template`` when the config is validated.

Every template sees the fields of ``Notification.payload()`` (``receiver``,
``status``, ``alerts``, ``groupLabels``, ``commonLabels``, ``commonAnnotations``,
``externalURL``, ``tenant``, ``groupKey``, ``truncatedAlerts``) plus
``firing_alerts`` and ``resolved_alerts``.
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
    TemplateSyntaxError,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment

from models.notify.notification import Notification

TEMPLATE_DIR = Path(__file__).parent / "templates"


class TemplateConfigError(ValueError):
    """A template in the configuration that cannot be parsed."""


def _pairs(mapping: dict[str, str] | None, exclude: tuple[str, ...] = ()) -> str:
    """``a=1, b=2`` with sorted keys, as Alertmanager's ``.SortedPairs`` prints them."""
    return ", ".join(f"{k}={v}" for k, v in sorted((mapping or {}).items()) if k not in exclude)


def _mrkdwn(text: object) -> str:
    """Escape the three characters Slack's mrkdwn treats as control sequences."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


ENV = SandboxedEnvironment(
    loader=FileSystemLoader(str(TEMPLATE_DIR)),
    autoescape=select_autoescape(enabled_extensions=("html", "htm"), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)
ENV.filters["pairs"] = _pairs
ENV.filters["mrkdwn"] = _mrkdwn

# User templates: same sandbox, filters and cache, lenient about missing keys.
_USER_TEXT = ENV.overlay(undefined=ChainableUndefined, autoescape=False)
_USER_HTML = ENV.overlay(undefined=ChainableUndefined, autoescape=True)


def check_template(source: str, *, html: bool = False) -> None:
    """Raise TemplateConfigError (a ValueError) with the reason if ``source`` won't parse."""
    env = _USER_HTML if html else _USER_TEXT
    try:
        env.parse(source)
    except TemplateSyntaxError as exc:
        hint = ""
        if "{{ ." in source or "{{." in source or "{{ template " in source:
            hint = (
                " (this looks like an Alertmanager Go template; alertstream templates are"
                " Jinja2, e.g. {{ commonLabels.alertname }})"
            )
        raise TemplateConfigError(
            f"template syntax error on line {exc.lineno}: {exc.message}{hint}"
        ) from None


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool):
    return (_USER_HTML if html else _USER_TEXT).from_string(source)


def context(notification: Notification) -> dict[str, Any]:
    ctx = notification.payload()
    ctx["firing_alerts"] = notification.firing()
    ctx["resolved_alerts"] = notification.resolved()
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


class TemplateRenderError(RuntimeError):
    """A template that parsed but failed while rendering (give up: retrying won't help)."""
