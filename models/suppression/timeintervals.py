"""Time intervals with Alertmanager's semantics (``timeinterval/timeinterval.go``).

A ``TimeInterval`` holds lists of times of day (minutes, ``[start, end)``), weekdays
(0 = Sunday, inclusive ranges), days of the month (negative = from the month end,
-1 = last day), months (1-12) and years, evaluated in a location (IANA time zone,
UTC by default).  Every non-empty list must contain the instant; an empty list
matches everything.  A named set (``NamedTimeIntervals``) contains an instant when
any of its intervals does.

Parsing from the YAML form (``{"times": [{"start_time": "09:00", "end_time":
"17:00"}], "weekdays": ["monday:friday"], ...}``) raises ``TimeIntervalError`` with
Alertmanager's messages.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS_OF_WEEK = {
    "sunday": 0,
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
}
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS_INV = {v: k for k, v in MONTHS.items()}
_VALID_TIME = re.compile(r"^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)")


class TimeIntervalError(ValueError):
    """An invalid time interval definition (message as Alertmanager's)."""


Range = tuple[int, int]


def _atoi(s: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", s):
        raise TimeIntervalError(f'strconv.Atoi: parsing "{s}": invalid syntax')
    return int(s)


def _split_range(raw: Any, member) -> Range:
    s = str(raw).lower()
    if ":" in s:
        parts = s.split(":")
        if len(parts) != 2:
            raise TimeIntervalError(f"couldn't parse range {s}, invalid format")
        return member(parts[0]), member(parts[1])
    v = member(s)
    return v, v


def _weekday(s: str) -> int:
    if s not in DAYS_OF_WEEK:
        raise TimeIntervalError(f"{s} is not a valid weekday")
    return DAYS_OF_WEEK[s]


def _month(s: str) -> int:
    if s in MONTHS:
        return MONTHS[s]
    try:
        return _atoi(s)
    except TimeIntervalError:
        raise TimeIntervalError(f"{s} is not a valid month") from None


def parse_weekday_range(raw: Any) -> Range:
    b, e = _split_range(raw, _weekday)
    if b > e:
        raise TimeIntervalError("start day cannot be before end day")
    return b, e


def parse_day_of_month_range(raw: Any) -> Range:
    b, e = _split_range(raw, _atoi)
    if b == 0 or b < -31 or b > 31:
        raise TimeIntervalError(f"{b} is not a valid day of the month: out of range")
    if e == 0 or e < -31 or e > 31:
        raise TimeIntervalError(f"{e} is not a valid day of the month: out of range")
    if b < 0 and e > 0:
        raise TimeIntervalError("end day must be negative if start day is negative")
    cb = 28 + b if b < 0 else b
    ce = 28 + e if e < 0 else e
    if cb > ce:
        raise TimeIntervalError(f"end day {e} is always before start day {b}")
    return b, e


def parse_month_range(raw: Any) -> Range:
    b, e = _split_range(raw, _month)
    for v in (b, e):
        # Alertmanager 0.25 accepts 13 here and never matches; we reject it.
        if v < 1 or v > 12:
            raise TimeIntervalError(f"{v} is not a valid month: out of range")
    if b > e:
        raise TimeIntervalError(
            f"end month {_MONTHS_INV[e]} is before start month {_MONTHS_INV[b]}"
        )
    return b, e


def parse_year_range(raw: Any) -> Range:
    b, e = _split_range(raw, _atoi)
    if b > e:
        raise TimeIntervalError(f"end year {e} is before start year {b}")
    return b, e


def parse_clock(s: Any) -> int:
    """``HH:MM`` (``24:00`` allowed) to minutes of the day."""
    s = str(s)
    if not _VALID_TIME.match(s):
        raise TimeIntervalError(f"couldn't parse timestamp {s}, invalid format")
    h, m = s.split(":")
    return int(h) * 60 + int(m)


def parse_time_range(obj: Any) -> Range:
    if not isinstance(obj, Mapping):
        raise TimeIntervalError("times: expected {start_time, end_time}")
    start, end = obj.get("start_time") or "", obj.get("end_time") or ""
    if not start or not end:
        raise TimeIntervalError("both start and end times must be provided")
    s, e = parse_clock(start), parse_clock(end)
    if s >= e:
        raise TimeIntervalError("start time cannot be equal or greater than end time")
    return s, e


def load_location(name: str) -> tzinfo:
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        return datetime.now().astimezone().tzinfo or UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise TimeIntervalError(f"unknown time zone {name}") from None


def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _in_ranges(v: int, ranges: Sequence[Range]) -> bool:
    return any(b <= v <= e for b, e in ranges)


@dataclass(frozen=True, slots=True)
class TimeInterval:
    times: tuple[Range, ...] = ()
    weekdays: tuple[Range, ...] = ()
    days_of_month: tuple[Range, ...] = ()
    months: tuple[Range, ...] = ()
    years: tuple[Range, ...] = ()
    location: str = ""
    _tz: tzinfo = field(default=UTC, compare=False, repr=False)

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> TimeInterval:
        """From the YAML/JSON form; raises TimeIntervalError."""
        if not isinstance(obj, Mapping):
            raise TimeIntervalError("time interval: expected a mapping")
        known = {"times", "weekdays", "days_of_month", "months", "years", "location"}
        extra = set(obj) - known
        if extra:
            raise TimeIntervalError(f"field {sorted(extra)[0]} not found in type TimeInterval")
        loc = obj.get("location") or ""
        return cls(
            times=tuple(parse_time_range(t) for t in obj.get("times") or ()),
            weekdays=tuple(parse_weekday_range(x) for x in obj.get("weekdays") or ()),
            days_of_month=tuple(
                parse_day_of_month_range(x) for x in obj.get("days_of_month") or ()
            ),
            months=tuple(parse_month_range(x) for x in obj.get("months") or ()),
            years=tuple(parse_year_range(x) for x in obj.get("years") or ()),
            location=loc,
            _tz=load_location(loc),
        )

    def contains(self, ts: float) -> bool:
        """True if the epoch instant ``ts`` lies inside this interval."""
        t = datetime.fromtimestamp(ts, self._tz)
        if self.times:
            minute = t.hour * 60 + t.minute
            if not any(s <= minute < e for s, e in self.times):
                return False
        if self.days_of_month:
            dim = _days_in_month(t.year, t.month)
            ok = False
            for b, e in self.days_of_month:
                begin = dim + b + 1 if b < 0 else b
                end = dim + e + 1 if e < 0 else e
                if begin > dim:
                    continue
                begin = max(-dim, min(begin, dim))
                end = max(-dim, min(end, dim))
                if begin <= t.day <= end:
                    ok = True
                    break
            if not ok:
                return False
        if self.months and not _in_ranges(t.month, self.months):
            return False
        if self.weekdays and not _in_ranges((t.weekday() + 1) % 7, self.weekdays):
            return False
        return not (self.years and not _in_ranges(t.year, self.years))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.times:
            out["times"] = [
                {
                    "start_time": f"{s // 60:02d}:{s % 60:02d}",
                    "end_time": f"{e // 60:02d}:{e % 60:02d}",
                }
                for s, e in self.times
            ]
        inv_wd = {v: k for k, v in DAYS_OF_WEEK.items()}
        if self.weekdays:
            out["weekdays"] = [
                inv_wd[b] if b == e else f"{inv_wd[b]}:{inv_wd[e]}" for b, e in self.weekdays
            ]
        for key in ("days_of_month", "months", "years"):
            ranges = getattr(self, key)
            if ranges:
                out[key] = [str(b) if b == e else f"{b}:{e}" for b, e in ranges]
        if self.location:
            out["location"] = self.location
        return out


@dataclass(frozen=True, slots=True)
class NamedTimeIntervals:
    """A named list of intervals (``time_intervals[].name``); contains = any contains."""

    name: str
    intervals: tuple[TimeInterval, ...] = ()

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> NamedTimeIntervals:
        name = obj.get("name") or ""
        if not name:
            raise TimeIntervalError("missing name in time interval")
        return cls(name, tuple(TimeInterval.parse(t) for t in obj.get("time_intervals") or ()))

    def contains(self, ts: float) -> bool:
        return any(i.contains(ts) for i in self.intervals)


def is_active(names: Sequence[str], intervals: Mapping[str, NamedTimeIntervals], ts: float) -> bool:
    """True if any of the named intervals contains ``ts`` (unknown names never do)."""
    for n in names:
        ti = intervals.get(n)
        if ti is not None and ti.contains(ts):
            return True
    return False
