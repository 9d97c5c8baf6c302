"""Schedules: rotations on the local wall clock across daylight-saving changes, layers by
priority, overrides of overrides, and the iCal export read back by ``icalendar``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from models.oncall.directory import Directory, Team, User
from models.oncall.ical import schedule_calendar, user_calendar
from models.oncall.schedule import OVERRIDE, Layer, Override, Schedule, Shift

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SUMMARY = re.compile(r"^On call: (\S+) \((\S+)\)$")


def at(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz)


def rotation(tz: str, users: str = "abc", handoff: str = "daily", **kw) -> Schedule:
    start = kw.pop("start", datetime(2026, 1, 5, 9))
    return Schedule("s", tz, [Layer("l", tuple((u,) for u in users), start, handoff, **kw)])


def ical_events(cal: bytes) -> list[tuple[datetime, datetime, str]]:
    """(start, end, person) of each event, read as a calendar app reads the file."""
    return [
        (ev.decoded("dtstart"), ev.decoded("dtend"), SUMMARY.match(str(ev["summary"])).group(1))
        for ev in Calendar.from_ical(cal).walk("VEVENT")
    ]


def who(events: list[tuple[datetime, datetime, str]], instant: datetime) -> list[str]:
    return [person for a, b, person in events if a <= instant < b]


# --- the wall clock across daylight-saving changes ---------------------------------


@pytest.mark.parametrize(
    ("tz", "spring", "autumn"),
    [
        (BERLIN, (2026, 3, 28), (2026, 10, 24)),  # clocks change on Sunday 29 Mar / 25 Oct
        (NEW_YORK, (2026, 3, 7), (2026, 10, 31)),  # Sunday 8 Mar / 1 Nov
    ],
)
def test_a_daily_0900_handoff_stays_at_0900_local_so_the_turn_is_23_or_25_hours(tz, spring, autumn):
    s = rotation(tz.key)
    for day, hours in ((spring, 23), (autumn, 25)):
        start = at(tz, *day, 9)
        shifts = s.shifts(start, start + timedelta(days=2))
        assert [(sh.start.astimezone(tz).hour, sh.end.astimezone(tz).hour) for sh in shifts] == [
            (9, 9),
            (9, 9),
        ]
        assert shifts[0].end - shifts[0].start == timedelta(hours=hours)
        assert shifts[1].end - shifts[1].start == timedelta(hours=24)
        # the same person from 09:00 to 09:00 local, the next one after
        mid = shifts[0].start + (shifts[0].end - shifts[0].start) / 2
        assert s.on_call(mid) == [shifts[0].user]
        assert s.on_call(shifts[0].end) == [shifts[1].user] != [shifts[0].user]


def test_an_8h_active_window_stays_0900_to_1700_local_across_the_change():
    layer = Layer(
        "biz",
        (("a",),),
        datetime(2026, 3, 2, 9),
        "weekly",
        active="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        duration=timedelta(hours=8),
    )
    s = Schedule("s", "Europe/Berlin", [layer])
    shifts = s.shifts(at(BERLIN, 2026, 3, 26), at(BERLIN, 2026, 4, 1))
    local = [(x.start.astimezone(BERLIN), x.end.astimezone(BERLIN)) for x in shifts]
    assert [(a.day, a.hour, b.hour) for a, b in local] == [
        (26, 9, 17),
        (27, 9, 17),
        (30, 9, 17),  # weekend skipped; summer time since Sunday
        (31, 9, 17),
    ]
    assert s.on_call(at(BERLIN, 2026, 3, 28, 12)) == []
    assert s.on_call(at(BERLIN, 2026, 3, 30, 16, 59)) == ["a"]
    assert s.on_call(at(BERLIN, 2026, 3, 30, 17)) == []


def test_a_handoff_inside_the_spring_gap_is_read_with_the_offset_before_the_gap():
    # 02:30 does not exist on 29 Mar 2026 in Berlin: as RFC 5545 says, it is 02:30 CET,
    # i.e. 03:30 CEST
    s = rotation("Europe/Berlin", start=datetime(2026, 3, 27, 2, 30))
    shifts = s.shifts(at(BERLIN, 2026, 3, 28, 12), at(BERLIN, 2026, 3, 30))
    assert shifts[0].end == at(BERLIN, 2026, 3, 29, 3, 30)
    assert [x.user for x in shifts] == ["b", "c"]


# --- rotations, layers, overrides ---------------------------------------------------


def test_turns_rotate_through_people_and_groups_and_rrules():
    s = Schedule(
        "s",
        "UTC",
        [Layer("l", (("a",), ("b", "c")), datetime(2026, 1, 1, 9), "FREQ=DAILY;BYHOUR=9,21")],
    )
    assert s.on_call(datetime(2026, 1, 1, 8, tzinfo=UTC)) == []  # before the first handoff
    assert s.on_call(datetime(2026, 1, 1, 9, tzinfo=UTC)) == ["a"]
    assert s.on_call(datetime(2026, 1, 1, 21, tzinfo=UTC)) == ["b", "c"]
    assert s.on_call(datetime(2026, 1, 2, 9, tzinfo=UTC)) == ["a"]
    assert s.on_call(datetime(2026, 1, 2, 8, 59, tzinfo=UTC)) == ["b", "c"]


def test_the_start_counts_as_the_first_handoff_even_off_the_rule():
    # RFC 5545: DTSTART is the first instance; weekly on Mondays, starting a Wednesday
    s = rotation("UTC", users="ab", handoff="FREQ=WEEKLY;BYDAY=MO", start=datetime(2026, 1, 7))
    assert s.on_call(datetime(2026, 1, 8, tzinfo=UTC)) == ["a"]
    assert s.on_call(datetime(2026, 1, 12, tzinfo=UTC)) == ["b"]
    assert s.on_call(datetime(2026, 1, 19, tzinfo=UTC)) == ["a"]


def test_a_layer_ends():
    s = rotation("UTC", end=datetime(2026, 1, 7))
    assert s.on_call(datetime(2026, 1, 6, 23, tzinfo=UTC)) == ["b"]
    assert s.on_call(datetime(2026, 1, 7, tzinfo=UTC)) == []
    assert s.shifts(NOW, datetime(2026, 2, 1, tzinfo=UTC))[-1].end == datetime(
        2026, 1, 7, tzinfo=UTC
    )


def test_the_higher_layer_wins_where_it_has_someone_and_equal_ones_add_up():
    base = Layer("base", (("a",),), datetime(2026, 1, 1), "weekly", priority=0)
    day = Layer(
        "day",
        (("b",),),
        datetime(2026, 1, 1, 9),
        "weekly",
        priority=1,
        active="daily",
        duration=timedelta(hours=8),
    )
    peer = Layer(
        "peer",
        (("c",),),
        datetime(2026, 1, 1, 12),
        "weekly",
        priority=1,
        active="daily",
        duration=timedelta(hours=1),
    )
    s = Schedule("s", "UTC", [base, day, peer])
    t = datetime(2026, 1, 2, tzinfo=UTC)
    assert s.on_call(t.replace(hour=8)) == ["a"]
    assert s.on_call(t.replace(hour=9)) == ["b"]
    assert s.on_call(t.replace(hour=12)) == ["b", "c"]
    assert s.on_call(t.replace(hour=17)) == ["a"]
    got = [(x.user, x.start.hour, x.end.hour, x.layer) for x in s.shifts(t, t + timedelta(days=1))]
    assert got == [
        ("a", 0, 9, "base"),
        ("b", 9, 12, "day"),
        ("b", 12, 13, "day"),
        ("c", 12, 13, "peer"),
        ("b", 13, 17, "day"),
        ("a", 17, 0, "base"),
    ]


def test_an_override_of_an_override_the_later_wins_and_the_rest_of_the_earlier_stays():
    overrides = [
        Override(("x",), datetime(2026, 1, 6, 10), datetime(2026, 1, 6, 20)),
        Override(("y",), datetime(2026, 1, 6, 12), datetime(2026, 1, 6, 14)),  # covers x
        Override(("z",), datetime(2026, 1, 6, 13), datetime(2026, 1, 6, 13, 30)),  # covers y
    ]
    s = Schedule("s", "Europe/Berlin", rotation("Europe/Berlin").layers, overrides)
    day = at(BERLIN, 2026, 1, 6)
    got = [
        (
            x.user,
            x.start.astimezone(BERLIN).strftime("%H:%M"),
            x.end.astimezone(BERLIN).strftime("%H:%M"),
            x.layer,
        )
        for x in s.shifts(day + timedelta(hours=9), day + timedelta(hours=22))
    ]
    assert got == [
        ("b", "09:00", "10:00", "l"),
        ("x", "10:00", "12:00", OVERRIDE),
        ("y", "12:00", "13:00", OVERRIDE),
        ("z", "13:00", "13:30", OVERRIDE),
        ("y", "13:30", "14:00", OVERRIDE),
        ("x", "14:00", "20:00", OVERRIDE),
        ("b", "20:00", "22:00", "l"),
    ]
    assert s.on_call(day + timedelta(hours=13, minutes=15)) == ["z"]
    assert s.on_call(day + timedelta(hours=19)) == ["x"]


def test_instants_must_be_aware():
    with pytest.raises(ValueError, match="time zone"):
        rotation("UTC").on_call(datetime(2026, 1, 6))


def test_directory_lookups_and_a_users_shifts_over_schedules():
    d = Directory(
        [User("a", tz="Europe/Berlin"), User("b"), User("c")],
        [Team("t", ("a", "b"))],
        [rotation("UTC"), Schedule("other", "UTC", [Layer("x", (("a",),), datetime(2026, 1, 1))])],
    )
    assert d.team("t").members == ("a", "b")
    with pytest.raises(KeyError, match="unknown schedule 'nope'"):
        d.schedule("nope")
    mine = d.shifts_of("a", datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC))
    assert {name for name, _ in mine} == {"s", "other"}
    assert all(sh.user == "a" for _, sh in mine)
    cal = user_calendar("a", mine, BERLIN, NOW, NOW + timedelta(days=30), NOW)
    assert len(Calendar.from_ical(cal).walk("VEVENT")) == len(mine)


# --- a year in two time zones, and the iCal export read back ------------------------


def year_schedule(tz: str) -> Schedule:
    weekly = Layer("weekly", (("ann",), ("ben",), ("cat",)), datetime(2026, 1, 5, 9), "weekly")
    days = Layer(
        "days",
        (("dan",), ("eve",)),
        datetime(2026, 1, 5, 9),
        "daily",
        priority=1,
        active="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        duration=timedelta(hours=8),
    )
    overrides = [
        Override(("fay",), datetime(2026, 3, 28, 20), datetime(2026, 3, 29, 12)),  # over a change
        Override(("gus",), datetime(2026, 3, 29, 1), datetime(2026, 3, 29, 4)),  # of an override
        Override(("fay",), datetime(2026, 11, 1, 0), datetime(2026, 11, 1, 3)),
    ]
    return Schedule(tz, tz, [weekly, days], overrides)


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
def test_a_year_of_on_call_matches_the_ical_export(tz):
    s = year_schedule(tz)
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    cal = schedule_calendar(s, start, end, NOW)
    assert Calendar.from_ical(cal).walk("VTIMEZONE")[0]["tzid"] == tz
    events = ical_events(cal)
    assert len(events) > 500  # a day and a night shift each weekday
    zone = ZoneInfo(tz)
    # every 7h13m over the year, plus each hour around the DST changes of both zones
    samples = [start + timedelta(minutes=433 * i) for i in range(1213)]  # up to 31 Dec
    for day in ((2026, 3, 8), (2026, 3, 29), (2026, 10, 25), (2026, 11, 1)):
        base = datetime(*day, tzinfo=UTC) - timedelta(hours=12)
        samples += [base + timedelta(minutes=30 * i) for i in range(72)]
    mismatches = []
    for t in samples:
        want = s.on_call(t)
        got = who(events, t)
        if got != want:
            mismatches.append((t.astimezone(zone).isoformat(), want, got))
    assert not mismatches, mismatches[:5]
    # the weekly layer alone: every handoff on Monday 09:00 local all year, 7 days apart
    # on the wall clock, so one week in spring is 167 h and one in autumn 169 h long
    weekly = Schedule(tz, tz, s.layers[:1]).shifts(start, end)[1:]
    assert {x.start.astimezone(zone).strftime("%a %H:%M") for x in weekly} == {"Mon 09:00"}
    hours = sorted((x.end - x.start) / timedelta(hours=1) for x in weekly[:-1])
    assert (hours[0], hours[1], hours[-2], hours[-1]) == (167, 168, 168, 169)


# --- properties over generated schedules --------------------------------------------

RULES = [
    "daily",
    "weekly",
    "FREQ=DAILY;BYHOUR=9,21",
    "FREQ=HOURLY;INTERVAL=7",
    "FREQ=WEEKLY;BYDAY=MO,TH",
]
TZS = ["Europe/Berlin", "America/New_York"]
WINDOW = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 15, tzinfo=UTC))


@st.composite
def schedules(draw) -> Schedule:
    base = datetime(2026, 2, 20)
    layers = []
    for i in range(draw(st.integers(1, 3))):
        users = draw(st.lists(st.sampled_from("abcde"), min_size=1, max_size=4))
        active = draw(
            st.sampled_from(
                [None, "daily", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "FREQ=HOURLY;INTERVAL=5"]
            )
        )  # 5-hourly windows of up to 12 h overlap: each one ends where the next begins
        layers.append(
            Layer(
                f"l{i}",
                tuple((u,) for u in users),
                base + timedelta(hours=draw(st.integers(0, 24 * 20))),
                draw(st.sampled_from(RULES)),
                priority=draw(st.integers(0, 2)),
                active=active,
                duration=timedelta(hours=draw(st.integers(1, 12))) if active else None,
                tz=draw(st.sampled_from(["", *TZS])),
            )
        )
    overrides = []
    for _ in range(draw(st.integers(0, 4))):
        a = datetime(2026, 3, 1) + timedelta(hours=draw(st.integers(0, 24 * 40)))
        b = a + timedelta(hours=draw(st.integers(1, 72)))
        overrides.append(Override((draw(st.sampled_from("xyz")),), a, b))
    return Schedule("gen", draw(st.sampled_from(TZS)), layers, overrides)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=schedules(), offsets=st.lists(st.integers(0, 45 * 24 * 60 - 1), min_size=20, max_size=40))
def test_on_call_agrees_with_the_rendered_shifts_and_the_ical_export(s, offsets):
    start, end = WINDOW
    shifts = s.shifts(start, end)
    events = ical_events(schedule_calendar(s, start, end, NOW))
    for minutes in offsets:
        t = start + timedelta(minutes=minutes)
        want = s.on_call(t)
        assert [x.user for x in shifts if x.start <= t < x.end] == want
        assert who(events, t) == want


@settings(max_examples=40, deadline=None)
@given(s=schedules())
def test_shifts_of_one_person_never_overlap_and_stay_in_the_window(s):
    start, end = WINDOW
    by_user: dict[str, list[Shift]] = {}
    for x in s.shifts(start, end):
        assert start <= x.start < x.end <= end
        by_user.setdefault(x.user, []).append(x)
    for mine in by_user.values():
        for a, b in pairwise(mine):
            assert a.end <= b.start
