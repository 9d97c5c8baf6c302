"""Who a step pages: from its target's candidates to the people (or receivers) chosen.

Candidates come from a ``Roster`` (the on-call directory: a schedule's on-call users at
an instant, a team's members, each user's skills); receivers and named users are their
own candidates. Then ``pick``:

* ``all``: every candidate;
* ``round_robin``: the next candidate after the last one chosen (a cursor kept per
  tenant, policy and step), so everyone is paged once before anyone twice;
* ``least_loaded``: the candidate with the fewest open acknowledged chains, ties
  broken in round-robin order.

``working_hours`` keeps only the candidates within their working hours (each in their
own time zone) at the step's due time, and ``skills`` (already rendered from the
alert's labels) keep only the candidates who have
every one (compared case-blind); when nobody has them all, every candidate stays
(paging someone beats paging no one) and the reason says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from models.escalation.policy import Target

ALL = "all"
ROUND_ROBIN = "round_robin"
LEAST_LOADED = "least_loaded"
PICKS = (ALL, ROUND_ROBIN, LEAST_LOADED)


class Roster(Protocol):
    def members(self, kind: str, name: str, at: float) -> list[str]:
        """The users of a ``schedule`` on call at ``at``, or of a ``team``."""
        ...

    def skills(self, user: str) -> frozenset[str]: ...

    def working(self, user: str, at: float) -> bool:
        """Is ``at`` within the user's working hours (in their time zone)."""
        ...


@dataclass(frozen=True, slots=True)
class Choice:
    kind: str  # "users" or "receivers": what ``names`` are
    names: tuple[str, ...]
    cursor: int  # the round-robin cursor after this choice
    why: str = ""


def candidates(target: Target, roster: Roster | None, at: float) -> list[str]:
    if target.kind in ("users", "receivers"):
        return list(target.names)
    if roster is None:
        return []
    out: list[str] = []
    for name in target.names:
        out += [u for u in roster.members(target.kind, name, at) if u not in out]
    return out


def pick(
    target: Target,
    found: Sequence[str],
    *,
    cursor: int = 0,
    load: Mapping[str, int] | None = None,
    skills: Sequence[str] = (),
    roster: Roster | None = None,
    at: float = 0.0,
) -> Choice:
    """Choose from ``found`` (the target's candidates, at ``at``) by the target's
    ``working_hours``, ``skills`` and ``pick``."""
    kind = "receivers" if target.kind == "receivers" else "users"
    why = ""
    pool = list(found)
    if target.working_hours and roster is not None and pool:
        working = [u for u in pool if roster.working(u, at)]
        if working:
            pool = working
        else:
            why = "nobody is within working hours; paging every candidate"
    wanted = {s.lower() for s in skills if s}  # tags compare case-blind
    if wanted and roster is not None:
        skilled = [u for u in pool if wanted <= {s.lower() for s in roster.skills(u)}]
        if skilled:
            pool = skilled
        else:
            note = f"nobody has skills {sorted(wanted)}; paging every candidate"
            why = f"{why}; {note}" if why else note
    if not pool:
        return Choice(kind, (), cursor, why or "no candidates")
    if target.pick == ALL:
        return Choice(kind, tuple(pool), cursor, why)
    n = len(pool)
    order = [pool[(cursor + i) % n] for i in range(n)]  # round-robin order from the cursor
    if target.pick == LEAST_LOADED:
        counts = load or {}
        chosen = min(order, key=lambda u: counts.get(u, 0))  # min keeps the first of ties
    else:
        chosen = order[0]
    return Choice(kind, (chosen,), (pool.index(chosen) + 1) % n, why)
