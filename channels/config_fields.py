"""What every integration's config shares: strict parsing, ``send_resolved``, a timeout,
checked template and URL fields.

Each channel's config model subclasses ``ChannelConfig``, so a typo'd key is an
error naming the key and a template that will not parse fails when the config is
loaded, not when the first alert fires.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from channels.templating import check_template
from models.durations import Duration

DEFAULT_TIMEOUT = 10.0  # seconds for one send attempt


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )


class ChannelConfig(Strict):
    """Fields every integration has.  Subclasses set the ``send_resolved`` default
    to Alertmanager's for that integration."""

    send_resolved: bool = True
    timeout: Duration = DEFAULT_TIMEOUT  # one attempt; 0 means the default

    def attempt_timeout(self) -> float:
        return self.timeout or DEFAULT_TIMEOUT


def template_field(*names: str, html: bool = False):
    """A field validator that makes a template syntax error a config error."""

    def check(cls, value):
        if isinstance(value, str) and value:
            check_template(value, html=html)
        elif isinstance(value, dict):
            for v in value.values():
                if isinstance(v, str) and v:
                    check_template(v, html=html)
        return value

    return field_validator(*names)(classmethod(check))


def url_field(*names: str):
    """A field validator that accepts only http(s) URLs (plain or secret)."""

    def check(cls, value):
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text:
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("expected an http(s) URL")
        return value

    return field_validator(*names)(classmethod(check))
