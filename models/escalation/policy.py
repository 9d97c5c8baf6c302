"""An escalation chain as a state machine: ``step(chain, policy, event) -> actions``.

A group notified firing on a route with ``escalation: NAME`` starts a ``Chain``. The
policy's steps run in order, each after the previous one's ``wait``; the whole list
runs ``repeat + 1`` times. A *position* is one step in one pass (``pass * len(steps)
+ step``); every position ends exactly once, as one of:

* ``notify``: its target is paged (the agent resolves who and sends);
* ``cancelled``: an ack (for ``if: not_acknowledged`` steps) or a resolve got there first;
* ``skipped``: outside the step's ``active_time_intervals`` / inside its
  ``mute_time_intervals``;
* ``waited``: a step that pages nobody, only waits.

Events: ``tick`` (time passes), ``ack``, ``resolve``, ``reassign``, ``snooze``. An ack
cancels every ``not_acknowledged`` step still to come; the chain keeps running only for
``not_resolved`` steps. A resolve ends the chain. A snooze clears the ack and holds
everything until it ends; a chain that had stopped is re-armed at the last position
that paged, so the same level is paged again. A reassign pages the new assignee at once.
SLA targets (``ack_within``, ``resolve_within``): when breached, the next step is due
at once (recorded once per SLA).

Commands are read at least once (a worker killed before committing its offset reads
them again): an event with an ``id`` already applied to the chain changes nothing.

Pure: no clock, no I/O. Each page carries ``key`` = ``group_key/step/attempt``
(``attempt``: how many times that step paged before in this chain), so firing the
same position again after a crash yields the same key, and the senders drop it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

NOT_ACKNOWLEDGED = "not_acknowledged"
NOT_RESOLVED = "not_resolved"

ACTIVE = "active"
ACKNOWLEDGED = "acknowledged"
SNOOZED = "snoozed"
RESOLVED = "resolved"
EXHAUSTED = "exhausted"  # every position ended, nothing acknowledged it

# action kinds (audit events; ``notify`` and ``reassign`` also page someone)
NOTIFY = "notify"
CANCELLED = "cancelled"
SKIPPED = "skipped"
WAITED = "waited"  # a step that only waits
BREACH = "sla_breach"
REASSIGN = "reassign"
APPLIED_KEEP = 20  # command ids remembered per chain (commands are read at least once)


@dataclass(frozen=True, slots=True)
class Target:
    """Who a step pages. ``kind``: receivers, users, schedule or team (``names`` are
    theirs); ``pick``: all, round_robin (the next candidate each time) or least_loaded
    (fewest open acknowledged chains); ``skills``: templates rendered from the alert's
    labels, and only candidates with every skill are kept; ``working_hours``: only
    those within their working hours (in their time zone) at the step's due time."""

    kind: str
    names: tuple[str, ...]
    pick: str = "all"
    skills: tuple[str, ...] = ()
    working_hours: bool = False  # only people within their working hours, if any are


@dataclass(frozen=True, slots=True)
class Step:
    target: Target | None  # None: a pure wait
    wait: float = 0.0  # after this step, before the next one
    when: str = NOT_ACKNOWLEDGED
    active_time_intervals: tuple[str, ...] = ()
    mute_time_intervals: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    steps: tuple[Step, ...]
    repeat: int = 0
    ack_within: float | None = None
    resolve_within: float | None = None

    @property
    def positions(self) -> int:
        return len(self.steps) * (self.repeat + 1)


@dataclass(slots=True)
class Chain:
    """One group's escalation; JSON-able (``to_wire``) for the durable table."""

    tenant: str
    group_key: str
    policy: str
    started: float
    pos: int = 0  # next position to end
    due: float | None = None  # when it ends (None: nothing left)
    status: str = ACTIVE
    acked_by: str = ""
    acked_at: float | None = None
    snoozed_until: float | None = None
    assignee: str = ""
    last_paged: int | None = None  # last position that paged
    attempts: dict[str, int] = field(default_factory=dict)  # step index -> pages so far
    breached: list[str] = field(default_factory=list)
    reassigns: int = 0
    applied: list[str] = field(default_factory=list)  # ids of the last commands applied

    @classmethod
    def start(cls, tenant: str, group_key: str, policy: Policy, now: float) -> Chain:
        return cls(tenant, group_key, policy.name, now, due=now if policy.positions else None)

    @property
    def open(self) -> bool:
        """Until resolved: an exhausted chain can still be acknowledged or snoozed."""
        return self.status != RESOLVED

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Chain:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Action:
    kind: str
    at: float
    step: int | None = None
    attempt: int = 0
    target: Target | None = None
    key: str = ""  # idempotency key of a page
    who: str = ""
    why: str = ""

    def audit(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.kind, "at": self.at, "why": self.why}
        if self.step is not None:
            out["step"] = self.step
            out["attempt"] = self.attempt
        if self.key:
            out["key"] = self.key
        if self.who:
            out["who"] = self.who
        return out


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # tick, ack, resolve, reassign, snooze
    at: float
    who: str = ""
    to: str = ""  # reassign: the new assignee (a user or receiver)
    until: float | None = None  # snooze: when paging resumes
    why: str = ""
    id: str = ""  # a command's id: one read again after a crash is applied once


InInterval = Callable[[Sequence[str], float], bool]
"""``in_interval(names, t)``: does any named time interval contain ``t``."""


def _never(names: Sequence[str], t: float) -> bool:
    return False


def step(
    chain: Chain, policy: Policy, event: Event, in_interval: InInterval = _never
) -> list[Action]:
    """Apply ``event`` to ``chain`` (in place); the actions it causes, in order."""
    if not chain.open:
        return []
    handler = _HANDLERS.get(event.kind)
    if handler is None:
        raise ValueError(f"unknown escalation event {event.kind!r}")
    if event.id:
        if event.id in chain.applied:
            return []
        chain.applied = [*chain.applied, event.id][-APPLIED_KEEP:]
    out = handler(chain, policy, event)
    out += _run(chain, policy, event.at, in_interval)
    return out


def _tick(chain: Chain, policy: Policy, event: Event) -> list[Action]:
    out: list[Action] = []
    now = event.at
    for sla, within in (("acknowledge", policy.ack_within), ("resolve", policy.resolve_within)):
        if within is None or sla in chain.breached or now < chain.started + within:
            continue
        if sla == "acknowledge" and chain.status == ACKNOWLEDGED:
            continue
        chain.breached.append(sla)
        out.append(Action(BREACH, now, why=f"not {sla}d within {within:g}s"))
        if chain.due is not None and chain.due > now and chain.status != SNOOZED:
            chain.due = now
    return out


def _ack(chain: Chain, policy: Policy, event: Event) -> list[Action]:
    chain.status, chain.acked_by, chain.acked_at = ACKNOWLEDGED, event.who, event.at
    chain.snoozed_until = None
    out = [Action(ACKNOWLEDGED, event.at, who=event.who, why=event.why)]
    if not any(
        policy.steps[p % len(policy.steps)].when == NOT_RESOLVED
        for p in range(chain.pos, policy.positions)
    ):
        out += _end_rest(chain, policy, event.at, CANCELLED, "acknowledged")
        chain.due = None
    return out


def _resolve(chain: Chain, policy: Policy, event: Event) -> list[Action]:
    out = [Action(RESOLVED, event.at, who=event.who, why=event.why)]
    out += _end_rest(chain, policy, event.at, CANCELLED, "resolved")
    chain.status, chain.due = RESOLVED, None
    return out


def _snooze(chain: Chain, policy: Policy, event: Event) -> list[Action]:
    until = event.until if event.until is not None else event.at
    chain.status, chain.snoozed_until = SNOOZED, until
    chain.acked_by, chain.acked_at = "", None
    if chain.due is None and chain.last_paged is not None:
        chain.pos = chain.last_paged  # re-armed: the last level that paged, again
    if chain.pos < policy.positions:
        chain.due = max(chain.due if chain.due is not None else until, until)
    return [Action(SNOOZED, event.at, who=event.who, why=event.why or f"until {until:.0f}")]


def _reassign(chain: Chain, policy: Policy, event: Event) -> list[Action]:
    if not event.to:
        raise ValueError("reassign: to is required")
    chain.assignee = event.to
    chain.reassigns += 1
    target = Target("users", (event.to,))
    key = f"{chain.group_key}/reassign/{event.id or chain.reassigns}"
    return [Action(REASSIGN, event.at, target=target, key=key, who=event.who, why=event.why)]


_HANDLERS: dict[str, Callable[[Chain, Policy, Event], list[Action]]] = {
    "tick": _tick,
    "ack": _ack,
    "resolve": _resolve,
    "snooze": _snooze,
    "reassign": _reassign,
}


def _run(chain: Chain, policy: Policy, now: float, in_interval: InInterval) -> list[Action]:
    """End every position that is due by ``now``."""
    out: list[Action] = []
    if chain.status == SNOOZED:
        if chain.snoozed_until is not None and now < chain.snoozed_until:
            return out
        chain.status, chain.snoozed_until = ACTIVE, None
    n = len(policy.steps)
    while chain.due is not None and chain.due <= now and chain.pos < policy.positions:
        index = chain.pos % n
        s = policy.steps[index]
        at = chain.due
        if chain.status == ACKNOWLEDGED and s.when == NOT_ACKNOWLEDGED:
            out.append(Action(CANCELLED, at, index, why="acknowledged"))
        elif (s.active_time_intervals and not in_interval(s.active_time_intervals, at)) or (
            s.mute_time_intervals and in_interval(s.mute_time_intervals, at)
        ):
            out.append(Action(SKIPPED, at, index, why="outside the step's time intervals"))
        elif s.target is not None:
            attempt = chain.attempts.get(str(index), 0)
            chain.attempts[str(index)] = attempt + 1
            chain.last_paged = chain.pos
            key = f"{chain.group_key}/{index}/{attempt}"
            out.append(Action(NOTIFY, at, index, attempt, s.target, key, why=_why(chain, n)))
        else:
            out.append(Action(WAITED, at, index, why=f"wait {s.wait:g}s"))
        chain.pos += 1
        chain.due = at + s.wait if chain.pos < policy.positions else None
    if chain.pos >= policy.positions and chain.due is None and chain.status == ACTIVE:
        chain.status = EXHAUSTED
        out.append(Action(EXHAUSTED, now, why="every step ran; nobody acknowledged"))
    return out


def _why(chain: Chain, n: int) -> str:
    loop = (chain.pos // n) + 1
    return f"step {chain.pos % n + 1} of pass {loop}" + (
        f"; SLA breached: {', '.join(chain.breached)}" if chain.breached else ""
    )


def _end_rest(chain: Chain, policy: Policy, at: float, kind: str, why: str) -> list[Action]:
    n = len(policy.steps)
    out = [Action(kind, at, p % n, why=why) for p in range(chain.pos, policy.positions)]
    chain.pos = policy.positions
    return out
