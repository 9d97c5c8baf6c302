"""Durations as Prometheus writes them ("1h30m", "500ms"): parsed to seconds, printed back.

A neutral type: the config schema, the channels and the CLI all read durations, so it
lives below all of them."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def parse_duration(value: object) -> float:
    """Seconds from a Prometheus duration ('1h30m', '10s', '500ms', '0s') or a number."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 4h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str) or not value or not (m := _DURATION.match(value.strip())):
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 4h")
    if value.strip() != "0" and not any(m.groups()):
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 4h")
    return float(sum(int(g) * u for g, u in zip(m.groups(), _UNITS, strict=True) if g))


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration string for a number of seconds."""
    if seconds == 0:
        return "0s"
    out, rest = [], round(seconds * 1000)
    for unit, ms in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        q, rest = divmod(rest, ms)
        if q:
            out.append(f"{q}{unit}")
    return "".join(out)


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
"""Seconds, written in YAML as a Prometheus duration."""
