"""Retention cut-offs over history keys as the alert path writes them."""

from __future__ import annotations

from models.privacy.retention import expired_at, expired_history, history_time


def key(fp: str, at: float, seq: int = 0) -> str:
    return f"{fp}/{int(at * 1e6):014x}{seq:03x}"


def test_history_time_reads_the_key() -> None:
    assert history_time(key("abc", 1_700_000_000.25, 7)) == 1_700_000_000.25


def test_keep_the_newest_per_fingerprint() -> None:
    keys = [key("a", t) for t in (1, 2, 3, 4)] + [key("b", t) for t in (1, 2)]
    assert expired_history(keys, 2, None, now=10) == [key("a", 1), key("a", 2)]


def test_age_cuts_across_fingerprints_and_combines_with_keep() -> None:
    keys = [key("a", t) for t in (1, 5, 9)] + [key("b", t) for t in (2, 8)]
    assert expired_history(keys, None, 4.0, now=10) == [key("a", 1), key("a", 5), key("b", 2)]
    assert expired_history(keys, 1, 4.0, now=10) == [key("a", 1), key("a", 5), key("b", 2)]
    assert expired_history(keys, 5, None, now=10) == []


def test_expired_at() -> None:
    assert expired_at([("x", 1.0), ("y", 9.0)], 5.0, now=10.0) == ["x"]
