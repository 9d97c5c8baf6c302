"""Times on the wire as Alertmanager's JSON writes them, and back."""

from __future__ import annotations

import warnings

import pytest

from models.wire import format_time, parse_time


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (1700000000.5, "2023-11-14T22:13:20.500Z"),
        (1.0, "1970-01-01T00:00:01.000Z"),
        (1700000000.9995, "2023-11-14T22:13:20.999Z"),  # truncated to the millisecond, as before
        (0.0, "0001-01-01T00:00:00Z"),  # Go's zero time: no endsAt
    ],
)
def test_format_time_known_answers(ts, text):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecated datetime API on any Python
        assert format_time(ts) == text


def test_a_formatted_time_parses_back_to_the_millisecond():
    assert parse_time(format_time(1700000000.25), "startsAt") == 1700000000.25
    assert parse_time("2023-11-14T22:13:20.500Z", "startsAt") == 1700000000.5
