"""The one factory for the sandboxed Jinja2 environments users' templates run in.

Rule annotations (``models.rules.annotations``) and channel messages
(``channels.templating``) are both written by users in YAML, so both render in
Jinja2's sandbox, with the same filters and the same syntax-error message (with a
hint when someone pastes an Alertmanager Go template).  What differs is chosen by
the caller: a loader for built-in files, how strict undefined names are, HTML
autoescaping, block trimming.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from jinja2 import BaseLoader, TemplateSyntaxError, Undefined
from jinja2.sandbox import SandboxedEnvironment


class TemplateConfigError(ValueError):
    """A template in the configuration that cannot be parsed."""


def sorted_pairs(mapping: Mapping[str, str] | None, exclude: tuple[str, ...] = ()) -> str:
    """``a=1, b=2`` with sorted keys, as Alertmanager's ``.SortedPairs`` prints them."""
    return ", ".join(f"{k}={v}" for k, v in sorted((mapping or {}).items()) if k not in exclude)


def sandboxed_environment(
    *,
    loader: BaseLoader | None = None,
    undefined: type[Undefined] = Undefined,
    autoescape: bool | Callable[[str | None], bool] = False,
    trim_blocks: bool = False,
) -> SandboxedEnvironment:
    """A sandboxed environment with the shared filters (``pairs``)."""
    env = SandboxedEnvironment(
        loader=loader,
        undefined=undefined,
        autoescape=autoescape,
        trim_blocks=trim_blocks,
        lstrip_blocks=trim_blocks,
        keep_trailing_newline=False,
    )
    env.filters["pairs"] = sorted_pairs
    return env


def syntax_error(exc: TemplateSyntaxError, source: str) -> TemplateConfigError:
    """The config error for ``source`` that did not parse: line, reason, and a hint."""
    hint = ""
    if "{{ ." in source or "{{." in source or "{{ template " in source:
        hint = (
            " (this looks like an Alertmanager Go template; alertstream templates are"
            " Jinja2, e.g. {{ commonLabels.alertname }})"
        )
    return TemplateConfigError(f"template syntax error on line {exc.lineno}: {exc.message}{hint}")


def parse_check(env: SandboxedEnvironment, source: str) -> None:
    """Raise TemplateConfigError (a ValueError) with the reason if ``source`` won't parse."""
    try:
        env.parse(source)
    except TemplateSyntaxError as exc:
        raise syntax_error(exc, source) from None
