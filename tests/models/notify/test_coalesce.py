"""Coalescing a backlog: only notifications whose every alert a newer one of the same
group carries are dropped."""

from __future__ import annotations

import orjson

from models.notify.coalesce import envelopes, superseded


def note(nid: str, fps: list[str], group: str = "g", receiver: str = "ops") -> dict:
    return {
        "id": nid,
        "tenant": "t",
        "receiver": receiver,
        "channel": "webhook",
        "integration": 0,
        "group_key": group,
        "group_labels": {},
        "alerts": [{"fingerprint": fp, "status": "firing", "labels": {}} for fp in fps],
    }


def test_a_grown_group_supersedes_its_older_notifications():
    raw = orjson.dumps([note("1", ["a"]), note("2", ["a", "b"]), note("3", ["a", "b", "c"])])
    assert superseded(envelopes(raw)) == {"1": "3", "2": "3"}


def test_an_alert_missing_from_the_newer_keeps_the_older():
    # "a" shown (e.g. resolved) in 1, gone from the group in 2: 1 must still be sent
    raw = orjson.dumps([note("1", ["a", "b"]), note("2", ["b", "c"])])
    assert superseded(envelopes(raw)) == {}


def test_other_groups_and_receivers_are_not_coalesced():
    raw = orjson.dumps(
        [note("1", ["a"]), note("2", ["a"], group="h"), note("3", ["a"], receiver="pager")]
    )
    assert superseded(envelopes(raw)) == {}


def test_across_records_the_latest_wins():
    first = envelopes(orjson.dumps([note("1", ["a"]), note("x", ["z"], group="h")]))
    second = envelopes(orjson.dumps([note("2", ["a"])]))
    assert superseded(first + second) == {"1": "2"}
