"""People, teams and schedules by name: what escalation and the on-call views look up.

Built once from the validated ``oncall:`` section (``app/config/oncall.py``), which has
already checked every reference, so a lookup of a configured name cannot fail; a
lookup of another name raises ``KeyError`` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, TypeVar

from models.oncall.schedule import Schedule, Shift
from models.suppression.timeintervals import TimeInterval

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class User:
    """A person and how to reach them. ``working_hours`` are Alertmanager time intervals
    in the person's time zone ``tz``; none given means always available."""

    name: str
    email: str = ""
    phone: str = ""  # E.164, for SMS
    slack_id: str = ""
    tz: str = "UTC"
    working_hours: tuple[TimeInterval, ...] = ()
    skills: tuple[str, ...] = ()

    def working(self, at: datetime) -> bool:
        """True if ``at`` (aware) lies within the person's working hours."""
        return not self.working_hours or any(w.contains(at.timestamp()) for w in self.working_hours)

    def has_skills(self, wanted: Iterable[str]) -> bool:
        """True if the person has every skill in ``wanted`` (tags compare case-blind)."""
        mine = {s.lower() for s in self.skills}
        return all(w.lower() in mine for w in wanted)


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    members: tuple[str, ...] = ()


class Directory:
    """Read-only lookups by name; ``users``, ``teams`` and ``schedules`` map all of them."""

    def __init__(
        self,
        users: Iterable[User] = (),
        teams: Iterable[Team] = (),
        schedules: Iterable[Schedule] = (),
    ) -> None:
        self.users: Mapping[str, User] = MappingProxyType({u.name: u for u in users})
        self.teams: Mapping[str, Team] = MappingProxyType({t.name: t for t in teams})
        self.schedules: Mapping[str, Schedule] = MappingProxyType({s.name: s for s in schedules})

    @staticmethod
    def _get(kind: str, table: Mapping[str, T], name: str) -> T:
        try:
            return table[name]
        except KeyError:
            raise KeyError(f"unknown {kind} {name!r}") from None

    def user(self, name: str) -> User:
        return self._get("user", self.users, name)

    def team(self, name: str) -> Team:
        return self._get("team", self.teams, name)

    def schedule(self, name: str) -> Schedule:
        return self._get("schedule", self.schedules, name)

    def who(self, schedule: str, at: datetime) -> dict[str, Any]:
        """Who is on call in ``schedule`` at ``at``, with contacts and when each one's
        stretch ends (looking up to 62 days ahead): what ``oncall who --json`` prints and
        ``GET /api/v1/oncall`` answers."""
        s = self.schedule(schedule)
        ends = {x.user: x.end for x in s.shifts(at, at + timedelta(days=62)) if x.start <= at}
        people = []
        for name in s.on_call(at):
            u = self.user(name)
            until = ends.get(name)
            people.append(
                {
                    "name": name,
                    "email": u.email,
                    "phone": u.phone,
                    "slack_id": u.slack_id,
                    "time_zone": u.tz,
                    "until": until.isoformat() if until else None,
                }
            )
        return {"schedule": schedule, "at": at.astimezone(UTC).isoformat(), "on_call": people}

    def shifts_of(self, user: str, start: datetime, end: datetime) -> list[tuple[str, Shift]]:
        """(schedule name, shift) for every shift of ``user`` in [start, end), by start."""
        self.user(user)
        out = [
            (name, shift)
            for name, schedule in self.schedules.items()
            if user in schedule.members()
            for shift in schedule.shifts(start, end)
            if shift.user == user
        ]
        return sorted(out, key=lambda item: item[1].start)
