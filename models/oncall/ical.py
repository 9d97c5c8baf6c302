"""iCalendar (RFC 5545) export of on-call shifts, for calendar apps to subscribe to.

Each shift of the rendered timeline is one VEVENT (overrides and layers already
applied, so a calendar shows who is really on call), its times in the schedule's time
zone with a VTIMEZONE, so apps show the handoff at the local wall-clock time. A UID is
a hash of schedule, person and start: a refreshed feed updates events in place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from models.oncall.schedule import OVERRIDE, Schedule, Shift

PRODID = "-//alertstream//on-call//EN"
YEAR = timedelta(days=366)


def _event(schedule: str, tz: ZoneInfo, shift: Shift, stamp: datetime) -> Event:
    event = Event()
    uid = hashlib.sha256(f"{schedule}\0{shift.user}\0{shift.start.isoformat()}".encode())
    event.add("uid", f"{uid.hexdigest()[:32]}@alertstream")
    event.add("dtstamp", stamp)
    event.add("dtstart", shift.start.astimezone(tz))
    event.add("dtend", shift.end.astimezone(tz))
    via = "override" if shift.layer == OVERRIDE else f"layer {shift.layer}"
    event.add("summary", f"On call: {shift.user} ({schedule})")
    event.add("description", f"{shift.user} is on call for schedule {schedule} ({via}).")
    event.add("categories", ["on-call", schedule])
    event.add("transp", "TRANSPARENT")
    return event


def _calendar(name: str, events: Iterable[Event], start: datetime, end: datetime) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for event in events:
        cal.add_component(event)
    # VTIMEZONE rules for the span shown (and a year either side), not since 1970
    cal.add_missing_timezones((start - YEAR).date(), (end + YEAR).date())
    return cal.to_ical()


def schedule_calendar(schedule: Schedule, start: datetime, end: datetime, now: datetime) -> bytes:
    """The schedule's shifts within [start, end) as an iCalendar file."""
    return _calendar(
        f"On call: {schedule.name}",
        (_event(schedule.name, schedule.zone, s, now) for s in schedule.shifts(start, end)),
        start,
        end,
    )


def user_calendar(
    user: str,
    shifts: Iterable[tuple[str, Shift]],
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    now: datetime,
) -> bytes:
    """One person's shifts over all schedules within [start, end)
    (``Directory.shifts_of``) as an iCalendar file, in the person's time zone ``tz``."""
    events = (_event(name, tz, shift, now) for name, shift in shifts)
    return _calendar(f"On call: {user}", events, start, end)
