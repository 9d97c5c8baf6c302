"""Which stored entries a retention policy lets go.

History table keys are ``<fingerprint>/<time in µs, 14 hex><seq, 3 hex>`` (written by
``agents/runtime.py``), so an entry's age is read from its key, without its value.
"""

from __future__ import annotations

from collections.abc import Iterable


def history_time(key: str) -> float:
    """When a history entry was recorded, from its key (epoch seconds)."""
    stamp = key.rpartition("/")[2][:14]
    return int(stamp, 16) / 1e6


def expired_history(
    keys: Iterable[str], keep: int | None, max_age: float | None, now: float
) -> list[str]:
    """Of one partition's history keys (in key order, so grouped by fingerprint and
    oldest first within one), those past ``max_age`` or beyond the newest ``keep`` of
    their fingerprint."""
    by_fp: dict[str, list[str]] = {}
    for key in keys:
        by_fp.setdefault(key.partition("/")[0], []).append(key)
    cutoff = None if max_age is None else now - max_age
    out: list[str] = []
    for fp_keys in by_fp.values():
        extra = len(fp_keys) - keep if keep is not None else 0
        for i, key in enumerate(fp_keys):
            if i < extra or (cutoff is not None and history_time(key) < cutoff):
                out.append(key)
    return out


def expired_at(entries: Iterable[tuple[str, float]], max_age: float, now: float) -> list[str]:
    """Keys of (key, recorded at) entries older than ``max_age``."""
    cutoff = now - max_age
    return [k for k, at in entries if at < cutoff]
