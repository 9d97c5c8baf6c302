"""HTTP views of on-call: who is on call, and iCalendar feeds calendar apps subscribe to.

    GET /api/v1/oncall?schedule=S&at=T          who (every schedule without ``schedule``)
    GET /api/v1/schedules/{name}.ics?start=&end=  a schedule's final shifts
    GET /api/v1/users/{name}.ics?start=&end=      one person's shifts over all schedules

Times are ``now``, epoch seconds or ISO 8601 (without an offset: the schedule's time
zone; UTC for a person's feed). A feed covers ``start`` (default a week ago) to
``end`` (default 90 days on), at most 400 days. The directory is the tenant's config
(``X-Scope-OrgID`` or ``tenant``), else the default one. Answered by any worker: the
schedules are config, not partitioned state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from faust.web import Request, Response

from app.web import RuntimeView, json_response, tenant_of
from models.access.permissions import READ
from models.oncall.directory import Directory
from models.oncall.ical import schedule_calendar, user_calendar
from models.oncall.schedule import parse_instant

MAX_SPAN = timedelta(days=400)
BEFORE, AFTER = timedelta(days=7), timedelta(days=90)


class BadRequest(ValueError):
    """Every reason a query is invalid (HTTP 400)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def _times(query: Mapping[str, str], tz: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    reasons, out = [], {}
    for key, default in (("start", now - BEFORE), ("end", now + AFTER)):
        try:
            out[key] = parse_instant(query[key], tz, now) if key in query else default
        except ValueError as exc:
            reasons.append(f"{key}: {exc}")
    if not reasons and out["end"] <= out["start"]:
        reasons.append("end: must be after start")
    if not reasons and out["end"] - out["start"] > MAX_SPAN:
        reasons.append(f"end: at most {MAX_SPAN.days} days after start")
    if reasons:
        raise BadRequest(reasons)
    return out["start"], out["end"]


def calendar(
    directory: Directory, kind: str, name: str, query: Mapping[str, str], now: datetime
) -> bytes:
    """The iCalendar file of a schedule or a user (``kind``); KeyError if unknown,
    BadRequest if the query is invalid."""
    if kind == "schedule":
        schedule = directory.schedule(name)
        start, end = _times(query, schedule.zone, now)
        return schedule_calendar(schedule, start, end, now)
    zone = ZoneInfo(directory.user(name).tz)
    start, end = _times(query, ZoneInfo("UTC"), now)
    return user_calendar(name, directory.shifts_of(name, start, end), zone, start, end, now)


def who(directory: Directory, query: Mapping[str, str], now: datetime) -> list[dict[str, Any]]:
    """``Directory.who`` for the schedule the query names, or for every schedule."""
    names = [query["schedule"]] if query.get("schedule") else list(directory.schedules)
    out = []
    for name in names:
        schedule = directory.schedule(name)
        try:
            at = parse_instant(query.get("at", "now"), schedule.zone, now)
        except ValueError as exc:
            raise BadRequest([f"at: {exc}"]) from None
        out.append(directory.who(name, at))
    return out


def _error(status: int, reasons: list[str]) -> Response:
    return json_response(
        {"status": "error", "error": "; ".join(reasons), "errors": reasons}, status
    )


class _OncallView(RuntimeView):
    def directory(self, request: Request) -> Directory:
        return self.runtime.config_for(tenant_of(request) or "").oncall.directory


class OnCall(_OncallView):
    permissions = {"GET": READ}

    async def get(self, request: Request) -> Response:
        try:
            data = who(self.directory(request), request.query, datetime.now(UTC))
        except KeyError as exc:
            return _error(404, [exc.args[0]])
        except BadRequest as exc:
            return _error(400, exc.reasons)
        return json_response({"status": "success", "data": data})


class _Feed(_OncallView):
    permissions = {"GET": READ}

    kind = ""

    async def get(self, request: Request, name: str) -> Response:
        try:
            body = calendar(
                self.directory(request), self.kind, name, request.query, datetime.now(UTC)
            )
        except KeyError as exc:
            return _error(404, [exc.args[0]])
        except BadRequest as exc:
            return _error(400, exc.reasons)
        return web.Response(
            body=body,
            content_type="text/calendar",
            charset="utf-8",
            headers={"Content-Disposition": f'inline; filename="{name}.ics"'},
        )


class ScheduleFeed(_Feed):
    kind = "schedule"


class UserFeed(_Feed):
    kind = "user"


ROUTES: dict[str, type[RuntimeView]] = {
    "/api/v1/oncall": OnCall,
    "/api/v1/schedules/{name}.ics": ScheduleFeed,
    "/api/v1/users/{name}.ics": UserFeed,
}
