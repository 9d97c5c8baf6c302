"""The shared wire conventions of every topic: JSON (orjson), one object or an array.

Any Kafka producer can write a single object; ours write arrays (batches), since
one Kafka record is one Faust event (~100-150 µs) however much it carries.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson


class WireError(ValueError):
    """A record that cannot be accepted; the message is the reason shown to the producer."""


def decode_batch(raw: bytes | str | None) -> list[Any]:
    """Decode one Kafka value or HTTP body into a list of items (an object becomes [object])."""
    if raw is None or raw == b"" or raw == "":
        raise WireError("empty body")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"invalid JSON: {exc}") from None
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        return [doc]
    raise WireError(f"expected a JSON object or array, got {type(doc).__name__}")


MAX_RECORD_BYTES = 512 * 1024
"""Target size of one Kafka record: well under Kafka's default 1 MiB message limit."""


def encode_chunks(items: list[Any], limit: int = MAX_RECORD_BYTES) -> list[bytes]:
    """JSON arrays of at most ``limit`` bytes each (an item larger than that goes alone),
    so a batch never exceeds the broker's message size. Each item is encoded once."""
    if len(items) <= 1:
        return [orjson.dumps(items)]
    return pack_chunks([orjson.dumps(item) for item in items], limit)


def pack_chunks(encoded: list[bytes], limit: int = MAX_RECORD_BYTES) -> list[bytes]:
    """Encoded items packed into JSON arrays of at most ``limit`` bytes each."""
    out: list[bytes] = []
    chunk: list[bytes] = []
    size = 2
    for item in encoded:
        if chunk and size + len(item) + 1 > limit:
            out.append(b"[" + b",".join(chunk) + b"]")
            chunk, size = [], 2
        chunk.append(item)
        size += len(item) + 1
    out.append(b"[" + b",".join(chunk) + b"]")
    return out


def parse_time(value: Any, field: str) -> float:
    """Epoch seconds from a number or an RFC 3339 string (as Prometheus sends them)."""
    if isinstance(value, bool):
        raise WireError(f"{field}: expected epoch seconds or RFC 3339 time, got a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise WireError(f"{field}: not a finite number")
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise WireError(f"{field}: {value!r} is not an RFC 3339 time") from None
    raise WireError(f"{field}: expected epoch seconds or RFC 3339 time")


def format_time(ts: float) -> str:
    """RFC 3339 with milliseconds in UTC, as Alertmanager's JSON shows times."""
    if ts <= 0:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat("T", "milliseconds") + "Z"


def string_map(value: Any, field: str) -> dict[str, str]:
    """A label or annotation map: string keys, values coerced to strings."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WireError(f"{field}: expected an object of strings")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(v, str):
            if isinstance(v, dict | list) or v is None:
                raise WireError(f"{field}.{k}: expected a string")
            v = str(v)
        out[k] = v
    return out
