"""What the on-call views answer (``app/api_oncall.py``), over the worked example: the
feeds parse as calendars with the shifts `oncall who` reports, and bad queries name
every reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from icalendar import Calendar

from app.api_oncall import ROUTES, BadRequest, calendar, who
from app.config.loader import load_file

NOW = datetime(2026, 3, 25, 12, tzinfo=UTC)
PIPELINES = Path(__file__).resolve().parent / "oncall_pipelines.yaml"


@pytest.fixture(scope="module")
def directory():
    return load_file(PIPELINES, {}).oncall.directory


def events(body: bytes) -> list[tuple[datetime, datetime, str]]:
    cal = Calendar.from_ical(body)
    return [
        (e.decoded("dtstart"), e.decoded("dtend"), str(e["summary"])) for e in cal.walk("VEVENT")
    ]


def test_the_schedule_feed_holds_the_final_shifts_in_local_time(directory):
    body = calendar(directory, "schedule", "db-primary", {}, NOW)
    cal = Calendar.from_ical(body)
    assert (cal["version"], cal["prodid"]) == ("2.0", "-//alertstream//on-call//EN")
    evs = events(body)
    assert evs[0][0] >= NOW - timedelta(days=7) and evs[-1][1] <= NOW + timedelta(days=90)
    # bob's override week, interrupted by alice's override on 1 April 12:00-20:00 Berlin
    berlin = ZoneInfo("Europe/Berlin")
    april = [(a.astimezone(berlin).strftime("%d %H:%M"), s) for a, b, s in evs if a.month == 4]
    assert april[:3] == [
        ("01 12:00", "On call: alice (db-primary)"),
        ("01 20:00", "On call: bob (db-primary)"),
        ("06 09:00", "On call: bob (db-primary)"),  # his own week now (a new event)
    ]
    for a, b, summary in evs:
        person = summary.split()[2]
        assert directory.schedule("db-primary").on_call(a) == [person]
        assert directory.schedule("db-primary").on_call(b - timedelta(seconds=1)) == [person]


def test_a_users_feed_holds_only_their_shifts(directory):
    body = calendar(
        directory, "user", "carol", {"start": "2026-03-02T00:00:00Z", "end": "2026-03-09"}, NOW
    )
    evs = events(body)
    assert {s for _, _, s in evs} == {"On call: carol (db-primary)"}
    ny = ZoneInfo("America/New_York")
    assert [(a.astimezone(ny).hour, b.astimezone(ny).hour) for a, b, _ in evs] == [(12, 18)] * 5


def test_who_for_one_schedule_or_all(directory):
    [report] = who(directory, {"schedule": "db-primary", "at": "2026-04-01T13:00"}, NOW)
    assert [p["name"] for p in report["on_call"]] == ["alice"]
    assert [r["schedule"] for r in who(directory, {}, NOW)] == ["db-primary"]


def test_bad_queries_name_every_reason_and_unknown_names_are_404s(directory):
    with pytest.raises(BadRequest) as info:
        calendar(directory, "schedule", "db-primary", {"start": "soon", "end": "later"}, NOW)
    assert info.value.reasons == [
        "start: 'soon' is not a time (now, epoch seconds or ISO 8601)",
        "end: 'later' is not a time (now, epoch seconds or ISO 8601)",
    ]
    with pytest.raises(BadRequest, match="at most 400 days"):
        calendar(directory, "schedule", "db-primary", {"end": "2030-01-01"}, NOW)
    with pytest.raises(BadRequest, match="end: must be after start"):
        calendar(directory, "user", "bob", {"start": "now", "end": "2026-01-01T00:00Z"}, NOW)
    with pytest.raises(KeyError, match="unknown user 'zed'"):
        calendar(directory, "user", "zed", {}, NOW)
    with pytest.raises(KeyError, match="unknown schedule 'x'"):
        who(directory, {"schedule": "x"}, NOW)
    assert set(ROUTES) == {
        "/api/v1/oncall",
        "/api/v1/schedules/{name}.ics",
        "/api/v1/users/{name}.ics",
    }


async def test_a_worker_serves_who_and_the_feeds(make_worker, directory):
    worker = make_worker(PIPELINES.read_text())
    worker.start()
    await worker.ready()
    async with aiohttp.ClientSession(worker.url) as http:
        async with http.get("/api/v1/oncall?schedule=db-primary&at=2026-01-12T19:00") as r:
            assert r.status == 200
            [report] = (await r.json())["data"]
            assert [p["name"] for p in report["on_call"]] == ["carol"]
        # the week of a clock change, with both overrides
        feed = "/api/v1/schedules/db-primary.ics?start=2026-03-28T00:00Z&end=2026-04-03T00:00Z"
        async with http.get(feed) as r:
            assert (r.status, r.content_type) == (200, "text/calendar")
            evs = events(await r.read())
        week = directory.schedule("db-primary").shifts(
            datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 4, 3, tzinfo=UTC)
        )
        assert evs == [(x.start, x.end, f"On call: {x.user} (db-primary)") for x in week]
        async with http.get("/api/v1/users/carol.ics") as r:
            assert r.status == 200
            mine = events(await r.read())  # a week back to 90 days on from now
            assert mine and all(summary.startswith("On call: carol") for _, _, summary in mine)
        async with http.get("/api/v1/users/zed.ics") as r:
            assert (r.status, (await r.json())["errors"]) == (404, ["unknown user 'zed'"])
        async with http.get("/api/v1/schedules/db-primary.ics?start=x&end=y") as r:
            assert r.status == 400
            assert len((await r.json())["errors"]) == 2
