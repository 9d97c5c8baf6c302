"""On-call schedules: layers of rotations with RFC 5545 recurrence, priorities and overrides.

A ``Layer`` is one rotation. Its ``handoff`` rule (an RRULE such as ``FREQ=WEEKLY`` or
``FREQ=DAILY;BYHOUR=9,21``, evaluated from ``start``) says when the turn passes to the
next entry of ``users`` (an entry is one person or a group on call together); an
optional ``active`` rule with a ``duration`` limits the layer to those windows (e.g.
``FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR`` for 8 h: weekdays 09:00-17:00 when ``start`` is at
09:00; a window longer than the gap to the next one ends where the next begins).

Rules run on the wall clock of the layer's time zone: a daily 09:00 handoff stays at
09:00 local across a daylight-saving change, so that turn lasts 23 or 25 hours. As
RFC 5545 (3.3.5) reads local times, one that exists twice is its first occurrence and
one that does not exist (in the spring gap) takes the UTC offset before the gap
(02:30 on a night the clocks go from 02:00 to 03:00 is 03:30 after it).

A ``Schedule`` stacks layers: at an instant, the layers of the highest priority that
have someone on call decide (several layers of that priority: all their people).
Overrides beat every layer; where overrides overlap, the later one in the list wins,
so an override of an override is simply a later entry.

``Schedule.on_call(at)`` answers one instant; ``Schedule.shifts(start, end)`` renders
the final timeline (what the iCal export publishes). Both take aware datetimes.

    >>> from datetime import datetime, UTC
    >>> layer = Layer("primary", (("alice",), ("bob",)), datetime(2026, 1, 5, 9), "FREQ=DAILY")
    >>> Schedule("ops", "Europe/Berlin", (layer,)).on_call(datetime(2026, 1, 6, 12, tzinfo=UTC))
    ['bob']
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

SHORTHANDS = {f: f"FREQ={f.upper()}" for f in ("hourly", "daily", "weekly", "monthly")}
"""Rules that may be written as one word."""
OVERRIDE = "override"
"""The ``layer`` of a shift that an override produced."""


def parse_rule(text: str, dtstart: datetime) -> rrule:
    """An RRULE (``FREQ=...;...``, with or without the ``RRULE:`` prefix, or one of
    hourly/daily/weekly/monthly) from ``dtstart``; ValueError if it is not one."""
    body = SHORTHANDS.get(text.strip().lower(), text.strip())
    body = body.removeprefix("RRULE:")
    if not body.upper().startswith("FREQ=") and ";FREQ=" not in body.upper():
        raise ValueError(f"{text!r} is not an RRULE such as FREQ=WEEKLY;BYDAY=MO")
    if "DTSTART" in body.upper():
        raise ValueError(f"{text!r}: give the start as `start`, not DTSTART in the rule")
    try:
        rule = rrulestr(body, dtstart=dtstart, ignoretz=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{text!r} is not a valid RRULE: {exc}") from None
    if not isinstance(rule, rrule):
        raise ValueError(f"{text!r}: one RRULE expected")
    return rule


def local_naive(value: datetime, tz: ZoneInfo) -> datetime:
    """A config time as wall-clock time in ``tz``: an aware one is converted, a naive one
    is already wall-clock time there."""
    return value.astimezone(tz).replace(tzinfo=None) if value.tzinfo else value


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    return local.replace(tzinfo=tz).astimezone(UTC)


def parse_instant(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """An instant as people type it: ``now``, epoch seconds, or ISO 8601 / RFC 3339; a
    time without an offset is wall-clock time in ``tz``. ValueError if none of these."""
    text = text.strip()
    if text.lower() == "now":
        return now
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError):
        pass
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time (now, epoch seconds or ISO 8601)") from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("an instant must carry a time zone (an aware datetime)")
    return at.astimezone(UTC)


class Occurrences:
    """The instants of a rule, generated lazily as far as asked and kept: in UTC for
    lookups, in order. RFC 5545 counts DTSTART as the first instance even where the
    rule would not produce it (dateutil does not), so it is put first."""

    def __init__(self, rule: rrule, dtstart: datetime, tz: ZoneInfo) -> None:
        self._tz = tz
        self._iter: Iterator[datetime] = iter(rule)
        self._pending: datetime | None = None
        self.local: list[datetime] = []
        self.utc: list[datetime] = []
        self.done = False
        first = next(self._iter, None)
        if first != dtstart:
            self._pending = first
        self._add(dtstart)

    def _add(self, local: datetime) -> None:
        self.local.append(local)
        self.utc.append(to_utc(local, self._tz))

    def extend_past(self, at: datetime) -> None:
        """Generate until one instant lies after ``at`` (or the rule ends)."""
        while not self.done and (not self.utc or self.utc[-1] <= at):
            nxt, self._pending = (
                (self._pending, None) if self._pending else (next(self._iter, None), None)
            )
            if nxt is None:
                self.done = True
            else:
                self._add(nxt)

    def index_at(self, at: datetime) -> int:
        """The index of the last instant at or before ``at``; -1 if none."""
        self.extend_past(at)
        return bisect.bisect_right(self.utc, at) - 1


Users = tuple[str, ...]
Segment = tuple[datetime, datetime, Users]


@dataclass(frozen=True, slots=True)
class Shift:
    """One person on call from ``start`` to ``end`` (UTC) through ``layer``."""

    user: str
    start: datetime
    end: datetime
    layer: str


@dataclass
class Layer:
    """One rotation (see the module docstring). ``start`` and ``end`` are wall-clock times
    in the layer's time zone; ``tz`` empty means the schedule's."""

    name: str
    users: Sequence[Users]
    start: datetime
    handoff: str = "weekly"
    priority: int = 0
    active: str | None = None
    duration: timedelta | None = None
    end: datetime | None = None
    tz: str = ""
    _handoffs: Occurrences | None = field(default=None, init=False, repr=False)
    _windows: Occurrences | None = field(default=None, init=False, repr=False)
    _end_utc: datetime | None = field(default=None, init=False, repr=False)
    _zone: ZoneInfo = field(default=ZoneInfo("UTC"), init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.users or not all(self.users):
            raise ValueError(f"layer {self.name}: users must name at least one person")
        if self.active is not None and not self.duration:
            raise ValueError(f"layer {self.name}: `active` needs a `duration`")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"layer {self.name}: `end` must be after `start`")
        parse_rule(self.handoff, self.start)
        if self.active is not None:
            parse_rule(self.active, self.start)

    def bind(self, schedule_tz: str) -> None:
        """Fix the time zone (the schedule's unless the layer names one) and build the
        rules; a schedule calls this once."""
        zone = ZoneInfo(self.tz or schedule_tz)
        self._handoffs = Occurrences(parse_rule(self.handoff, self.start), self.start, zone)
        if self.active is not None:
            self._windows = Occurrences(parse_rule(self.active, self.start), self.start, zone)
        self._end_utc = to_utc(self.end, zone) if self.end else None
        self._zone = zone

    def _window_end(self, i: int) -> datetime:
        assert self._windows is not None and self.duration is not None
        return to_utc(self._windows.local[i] + self.duration, self._zone)

    def users_at(self, at: datetime) -> Users:
        """Who this layer has on call at ``at`` (UTC); () if nobody."""
        assert self._handoffs is not None, "Layer.bind first"
        if self._end_utc is not None and at >= self._end_utc:
            return ()
        turn = self._handoffs.index_at(at)
        if turn < 0:
            return ()
        if self._windows is not None:
            w = self._windows.index_at(at)
            if w < 0 or at >= self._window_end(w):
                return ()
        return tuple(self.users[turn % len(self.users)])

    def segments(self, start: datetime, end: datetime) -> list[Segment]:
        """The layer's turns within [start, end), cut to its active windows, in order."""
        assert self._handoffs is not None, "Layer.bind first"
        if self._end_utc is not None:
            end = min(end, self._end_utc)
        turns: list[Segment] = []
        h = self._handoffs
        i = max(h.index_at(start), 0)
        while i < len(h.utc) and h.utc[i] < end:
            h.extend_past(h.utc[i])
            t_end = h.utc[i + 1] if i + 1 < len(h.utc) else end
            a, b = max(h.utc[i], start), min(t_end, end)
            if a < b:
                turns.append((a, b, tuple(self.users[i % len(self.users)])))
            i += 1
        if self._windows is None:
            return turns
        return _intersect(turns, self._active_windows(start, end))

    def _active_windows(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        assert self._windows is not None
        w = self._windows
        out = []
        i = max(w.index_at(start), 0)
        while i < len(w.utc) and w.utc[i] < end:
            w.extend_past(w.utc[i])
            # a window longer than the gap to the next one ends where the next begins
            nxt = w.utc[i + 1] if i + 1 < len(w.utc) else end
            a, b = max(w.utc[i], start), min(self._window_end(i), nxt, end)
            if a < b:
                out.append((a, b))
            i += 1
        return out


def _intersect(turns: list[Segment], windows: list[tuple[datetime, datetime]]) -> list[Segment]:
    out: list[Segment] = []
    i = j = 0
    while i < len(turns) and j < len(windows):
        a = max(turns[i][0], windows[j][0])
        b = min(turns[i][1], windows[j][1])
        if a < b:
            out.append((a, b, turns[i][2]))
        if turns[i][1] <= windows[j][1]:
            i += 1
        else:
            j += 1
    return out


@dataclass(frozen=True, slots=True)
class Override:
    """``users`` cover [start, end) (wall-clock in the schedule's time zone, or aware)."""

    users: Users
    start: datetime
    end: datetime


class Schedule:
    """Layers by priority, then overrides on top (see the module docstring)."""

    def __init__(
        self,
        name: str,
        tz: str,
        layers: Sequence[Layer],
        overrides: Sequence[Override] = (),
    ) -> None:
        self.name = name
        self.tz = tz
        self.zone = ZoneInfo(tz)
        self.layers = tuple(layers)
        for layer in self.layers:
            layer.bind(tz)
        self.overrides = tuple(
            (
                to_utc(local_naive(o.start, self.zone), self.zone),
                to_utc(local_naive(o.end, self.zone), self.zone),
                o.users,
            )
            for o in overrides
        )
        for a, b, _ in self.overrides:
            if b <= a:
                raise ValueError(f"schedule {name}: an override must end after it starts")

    def members(self) -> set[str]:
        """Everyone the schedule can put on call."""
        out = {u for layer in self.layers for group in layer.users for u in group}
        return out | {u for _, _, users in self.overrides for u in users}

    def _decide(
        self, by_layer: Sequence[Users], overrides: Sequence[Users]
    ) -> list[tuple[str, str]]:
        """(user, layer) on call given each layer's people and the covering overrides."""
        if overrides:
            return [(u, OVERRIDE) for u in overrides[-1]]
        top = max(
            (lay.priority for lay, us in zip(self.layers, by_layer, strict=True) if us),
            default=None,
        )
        out: list[tuple[str, str]] = []
        for layer, users in zip(self.layers, by_layer, strict=True):
            if users and layer.priority == top:
                out += [(u, layer.name) for u in users if u not in {x for x, _ in out}]
        return out

    def on_call(self, at: datetime) -> list[str]:
        """The names of the people on call at ``at`` (an aware datetime)."""
        at = _aware(at)
        covering = [users for a, b, users in self.overrides if a <= at < b]
        return [u for u, _ in self._decide([lay.users_at(at) for lay in self.layers], covering)]

    def shifts(self, start: datetime, end: datetime) -> list[Shift]:
        """The final timeline within [start, end): one shift per person and stretch of
        time with the same people on call, ordered by start then layer order."""
        start, end = _aware(start), _aware(end)
        if end <= start:
            return []
        per_layer = [layer.segments(start, end) for layer in self.layers]
        cuts = {start, end}
        for segs in per_layer:
            cuts.update(x for a, b, _ in segs for x in (a, b))
        for a, b, _ in self.overrides:
            cuts.update(x for x in (a, b) if start < x < end)
        points = sorted(cuts)
        pos = [0] * len(per_layer)
        runs: list[tuple[datetime, datetime, list[tuple[str, str]]]] = []
        for x, y in pairwise(points):
            by_layer: list[Users] = []
            for k, segs in enumerate(per_layer):
                while pos[k] < len(segs) and segs[pos[k]][1] <= x:
                    pos[k] += 1
                hit = pos[k] < len(segs) and segs[pos[k]][0] <= x
                by_layer.append(segs[pos[k]][2] if hit else ())
            covering = [users for a, b, users in self.overrides if a <= x < b]
            who = self._decide(by_layer, covering)
            if runs and runs[-1][1] == x and runs[-1][2] == who:
                runs[-1] = (runs[-1][0], y, who)
            elif who:
                runs.append((x, y, who))
        return [Shift(u, a, b, lay) for a, b, who in runs for u, lay in who]
