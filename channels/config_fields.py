"""What every integration's config shares: strict parsing, ``send_resolved``, a timeout,
checked template and URL fields.

Each channel's config model subclasses ``ChannelConfig``, so a typo'd key is an
error naming the key and a template that will not parse fails when the config is
loaded, not when the first alert fires.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from channels.templating import check_template
from models.durations import Duration

DEFAULT_TIMEOUT = 10.0  # seconds for one send attempt


SECRET_FILES = "secret_files"
"""Validation context key: the directory ``*_file`` paths are relative to (that of the
config file); absent for a config posted to the API, which may not read the worker's
files."""


class Strict(BaseModel):
    """Strict parsing, and Alertmanager's ``*_file`` variant of every secret field:
    ``password_file: /run/secrets/smtp`` reads the secret (surrounding whitespace
    stripped) from that file when the config is loaded (and reloaded on SIGHUP)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        keys = [k for k in data if isinstance(k, str) and _secret_file_of(cls, k)]
        if not keys:
            return data
        base = (info.context or {}).get(SECRET_FILES)
        data = dict(data)
        for key in keys:
            name = key.removesuffix("_file")
            if data.get(name) not in (None, ""):
                raise ValueError(f"at most one of {name} and {key}")
            if base is None:
                raise ValueError(f"{key}: a config posted to the API cannot read files")
            path = Path(base) / str(data.pop(key))
            try:
                data[name] = path.read_text().strip()
            except OSError as exc:
                raise ValueError(f"{key}: cannot read {path}: {exc.strerror}") from None
        return data


def _secret_file_of(model: type[BaseModel], key: str) -> bool:
    """Whether ``key`` is the ``*_file`` variant of one of ``model``'s secret fields."""
    name = key.removesuffix("_file")
    if name == key or key in model.model_fields or name not in model.model_fields:
        return False
    annotation = model.model_fields[name].annotation
    return SecretStr in (get_args(annotation) or (annotation,))


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
