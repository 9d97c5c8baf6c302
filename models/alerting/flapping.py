"""Flap detection: an alert that changes state too often is notified once as flapping.

An alert (by fingerprint) *flaps* when it changes state (firing <-> resolved) more
than ``threshold`` times within ``window`` seconds.  The detector then reports
``FLAPPING`` once; further changes are swallowed (``suppress`` is true) until the
alert has not changed for ``stable_for`` seconds, when ``tick`` reports ``STABLE``
with its final state so the dispatcher can notify that state.

State per alert is compact: ``[status (1 firing, 0 resolved), change timestamps
within the window (at most threshold + 1), flapping_since (0 if not)]``; only the
alerts that changed recently are kept (``tick`` drops quiet ones).  ``observe`` is
O(threshold); ``tick`` is O(tracked alerts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FLAPPING = "flapping"
STABLE = "stable"


@dataclass(frozen=True, slots=True)
class FlapConfig:
    threshold: int = 4
    window: float = 600.0
    stable_for: float = 900.0


@dataclass(frozen=True, slots=True)
class FlapEvent:
    fingerprint: str
    kind: str  # FLAPPING or STABLE
    status: str  # the alert's current status, "firing" or "resolved"
    at: float


class FlapDetector:
    def __init__(self, config: FlapConfig | None = None) -> None:
        self.config = config or FlapConfig()
        self._state: dict[str, list[Any]] = {}

    def __len__(self) -> int:
        return len(self._state)

    def is_flapping(self, fingerprint: str) -> bool:
        st = self._state.get(fingerprint)
        return bool(st and st[2])

    def observe(self, fingerprint: str, status: str, now: float) -> tuple[FlapEvent | None, bool]:
        """Feed the alert's current status. Returns ``(event, suppress)``: event is
        FLAPPING when it starts flapping; suppress is true while it flaps (the
        dispatcher should not notify this change)."""
        firing = 1 if status == "firing" else 0
        st = self._state.get(fingerprint)
        if st is None:
            self._state[fingerprint] = [firing, [], 0.0]
            return None, False
        if st[0] == firing:
            return None, bool(st[2])
        st[0] = firing
        cfg = self.config
        changes = [t for t in st[1] if t > now - cfg.window]
        changes.append(now)
        del changes[: max(0, len(changes) - (cfg.threshold + 1))]
        st[1] = changes
        if st[2]:
            return None, True
        if len(changes) > cfg.threshold:
            st[2] = now
            return FlapEvent(fingerprint, FLAPPING, status, now), True
        return None, False

    def tick(self, now: float) -> list[FlapEvent]:
        """STABLE events for flapping alerts quiet for ``stable_for``; forgets alerts
        whose last change left the window and that do not flap."""
        cfg = self.config
        out = []
        for fp, st in list(self._state.items()):
            last = st[1][-1] if st[1] else 0.0
            if st[2]:
                if now - last >= cfg.stable_for:
                    st[2] = 0.0
                    st[1] = []
                    out.append(FlapEvent(fp, STABLE, "firing" if st[0] else "resolved", now))
            elif last <= now - cfg.window:
                # Keep the status of firing alerts so the next change counts.
                if st[0]:
                    st[1] = []
                else:
                    del self._state[fp]
        return out

    def forget(self, fingerprint: str) -> None:
        self._state.pop(fingerprint, None)

    # --- compact state ------------------------------------------------------------------
    def state_of(self, fingerprint: str) -> list[Any] | None:
        st = self._state.get(fingerprint)
        return None if st is None else [st[0], list(st[1]), st[2]]

    def to_dict(self) -> dict[str, list[Any]]:
        return {fp: [st[0], list(st[1]), st[2]] for fp, st in self._state.items()}

    @classmethod
    def from_dict(
        cls, d: Mapping[str, list[Any]], config: FlapConfig | None = None
    ) -> FlapDetector:
        det = cls(config)
        det._state = {fp: [st[0], list(st[1]), st[2]] for fp, st in d.items()}
        return det
