"""Offline alarm histories for the causal learner: the PCIC 2021 / gCastle CSV format.

``alarm_id,device_id,start_timestamp,end_timestamp`` — one alarm per line, ``alarm_id``
its kind, ``device_id`` its source, timestamps in seconds.  The CLI and the benchmark
read histories through here, so both feed the learner exactly as the worker would: one
alarm at a time, in start order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

HEADER = ("alarm_id", "device_id", "start_timestamp", "end_timestamp")
MAX_REASONS = 20


class Alarm(NamedTuple):
    kind: str
    source: str
    start: float


class AlarmsError(ValueError):
    """Every reason a file was refused, each naming the file and line."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("\n".join(reasons))
        self.reasons = reasons


def parse_alarms(lines: Iterable[str], name: str) -> list[Alarm]:
    """Alarms from CSV lines (header first), sorted by start; raises AlarmsError."""
    reasons: list[str] = []
    alarms: list[Alarm] = []
    it = iter(lines)
    header = tuple(c.strip() for c in next(it, "").strip().split(","))
    if header[:3] != HEADER[:3]:
        raise AlarmsError([f"{name}:1: expected header {','.join(HEADER)}, got {header!r}"])
    for number, line in enumerate(it, start=2):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 3 or not cells[0] or not cells[1]:
            reasons.append(f"{name}:{number}: expected {len(HEADER)} fields, got {line.strip()!r}")
        else:
            try:
                alarms.append(Alarm(cells[0], cells[1], float(cells[2])))
            except ValueError:
                reasons.append(f"{name}:{number}: start_timestamp {cells[2]!r} is not a number")
        if len(reasons) >= MAX_REASONS:
            reasons.append(f"{name}: stopped after {MAX_REASONS} errors")
            break
    if reasons:
        raise AlarmsError(reasons)
    alarms.sort(key=lambda a: a.start)  # stable: ties keep the file's order
    return alarms


def neighbours_from_matrix(matrix: Sequence[Sequence[float]]) -> dict[str, list[str]]:
    """A device adjacency matrix (Topology.npy) as a neighbour map of device ids."""
    return {
        str(i): [str(j) for j, linked in enumerate(row) if linked and j != i]
        for i, row in enumerate(matrix)
    }
