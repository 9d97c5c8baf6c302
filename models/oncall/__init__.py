"""On-call: people, teams and schedules (``directory``), rotations and overrides
(``schedule``), and their iCalendar export (``ical``)."""

from models.oncall.directory import Directory, Team, User
from models.oncall.schedule import Layer, Override, Schedule, Shift

__all__ = ["Directory", "Layer", "Override", "Schedule", "Shift", "Team", "User"]
