from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from models.suppression.timeintervals import (
    NamedTimeIntervals,
    TimeInterval,
    TimeIntervalError,
    is_active,
)

UTC = ZoneInfo("UTC")


def ts(*args, tz=UTC):
    return datetime(*args, tzinfo=tz).timestamp()


def ti(**kw):
    return TimeInterval.parse(kw)


def test_times_half_open():
    t = ti(times=[{"start_time": "09:00", "end_time": "17:00"}])
    assert t.contains(ts(2024, 1, 1, 9, 0))
    assert t.contains(ts(2024, 1, 1, 16, 59))
    assert not t.contains(ts(2024, 1, 1, 17, 0))
    assert not t.contains(ts(2024, 1, 1, 8, 59))
    whole = ti(times=[{"start_time": "00:00", "end_time": "24:00"}])
    assert whole.contains(ts(2024, 1, 1, 23, 59))


def test_weekdays():
    t = ti(weekdays=["monday:friday"])
    assert t.contains(ts(2024, 1, 1, 12))  # Monday
    assert t.contains(ts(2024, 1, 5, 12))  # Friday
    assert not t.contains(ts(2024, 1, 6, 12))  # Saturday
    assert not t.contains(ts(2024, 1, 7, 12))  # Sunday
    assert ti(weekdays=["Sunday"]).contains(ts(2024, 1, 7, 12))


def test_days_of_month_negative():
    last = ti(days_of_month=["-1"])
    assert last.contains(ts(2024, 2, 29, 12))  # leap year
    assert not last.contains(ts(2024, 2, 28, 12))
    assert last.contains(ts(2023, 2, 28, 12))
    assert last.contains(ts(2024, 1, 31, 12))
    week = ti(days_of_month=["-7:-1"])
    assert week.contains(ts(2024, 4, 24, 0))
    assert not week.contains(ts(2024, 4, 23, 23, 59))
    first = ti(days_of_month=["1:5", "10"])
    assert first.contains(ts(2024, 3, 5))
    assert first.contains(ts(2024, 3, 10))
    assert not first.contains(ts(2024, 3, 6))
    big = ti(days_of_month=["30:31"])
    assert not big.contains(ts(2024, 2, 29))  # begins after the month end: skipped


def test_months_years():
    t = ti(months=["january:march", "12"], years=["2024:2025"])
    assert t.contains(ts(2024, 2, 1))
    assert t.contains(ts(2025, 12, 1))
    assert not t.contains(ts(2024, 4, 1))
    assert not t.contains(ts(2026, 1, 1))


def test_location():
    t = ti(times=[{"start_time": "09:00", "end_time": "10:00"}], location="Australia/Sydney")
    # 09:30 in Sydney (UTC+11 in January) is 22:30 UTC the day before
    assert t.contains(ts(2024, 1, 10, 9, 30, tz=ZoneInfo("Australia/Sydney")))
    assert t.contains(ts(2024, 1, 9, 22, 30))
    assert not t.contains(ts(2024, 1, 10, 9, 30))
    # weekday evaluated in the location too
    sat = ti(weekdays=["saturday"], location="Asia/Tokyo")
    assert sat.contains(ts(2024, 1, 5, 16, 0))  # Friday 16:00 UTC = Saturday 01:00 JST


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"times": [{"start_time": "10:00"}]}, "both start and end times must be provided"),
        ({"times": [{"start_time": "10:00", "end_time": "09:00"}]}, "start time cannot be equal"),
        (
            {"times": [{"start_time": "25:00", "end_time": "26:00"}]},
            "couldn't parse timestamp 25:00",
        ),
        ({"weekdays": ["friday:monday"]}, "start day cannot be before end day"),
        ({"weekdays": ["funday"]}, "funday is not a valid weekday"),
        ({"weekdays": ["a:b:c"]}, "couldn't parse range a:b:c, invalid format"),
        ({"days_of_month": ["0"]}, "0 is not a valid day of the month: out of range"),
        ({"days_of_month": ["32"]}, "32 is not a valid day of the month: out of range"),
        ({"days_of_month": ["-3:5"]}, "end day must be negative if start day is negative"),
        ({"days_of_month": ["10:5"]}, "end day 5 is always before start day 10"),
        ({"months": ["march:january"]}, "end month january is before start month march"),
        ({"months": ["smarch"]}, "smarch is not a valid month"),
        ({"years": ["2025:2024"]}, "end year 2024 is before start year 2025"),
        ({"location": "Mars/Olympus"}, "unknown time zone Mars/Olympus"),
    ],
)
def test_errors(spec, error):
    with pytest.raises(TimeIntervalError) as exc:
        TimeInterval.parse(spec)
    assert str(exc.value).startswith(error)


def test_named_and_is_active():
    n = NamedTimeIntervals.parse(
        {"name": "weekends", "time_intervals": [{"weekdays": ["saturday", "sunday"]}]}
    )
    assert n.contains(ts(2024, 1, 6, 3))
    assert not n.contains(ts(2024, 1, 8, 3))
    assert is_active(["nope", "weekends"], {"weekends": n}, ts(2024, 1, 7))
    assert not is_active(["nope"], {"weekends": n}, ts(2024, 1, 7))
    empty = NamedTimeIntervals.parse({"name": "always", "time_intervals": [{}]})
    assert empty.contains(0)


def test_to_dict_round_trip():
    spec = {
        "times": [{"start_time": "09:00", "end_time": "17:30"}],
        "weekdays": ["monday:friday"],
        "days_of_month": ["1:5", "-1"],
        "months": ["1:3"],
        "years": ["2024"],
        "location": "Europe/Berlin",
    }
    t = TimeInterval.parse(spec)
    assert TimeInterval.parse(t.to_dict()) == t
