"""Jinja2 templates for annotations, rendered in the shared sandbox (users write them in YAML)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError

from models.template_sandbox import sandboxed_environment, syntax_error

_env = sandboxed_environment()


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Any:
    """Compile once; raises ValueError with the reason on a syntax error."""
    try:
        return _env.from_string(source)
    except TemplateSyntaxError as exc:
        raise syntax_error(exc, source) from None


def render(source: str, **context: Any) -> str:
    """Render; a failing template yields its error text rather than losing the alert."""
    try:
        return compile_template(source).render(**context)
    except Exception as exc:  # a template bug must not drop an alert
        return f"<template error: {exc}>"
