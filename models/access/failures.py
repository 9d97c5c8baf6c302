"""Failed authentications per client address, in a sliding window.

The access chain counts a credential that was presented and refused (an unknown or
expired token, a wrong password, a bad JWT, a failed login) against the address it came
from; once an address has ``limit`` failures within ``window`` seconds, it must wait
until the oldest of them leaves the window.  Successful requests are never counted, so
Prometheus and amtool with a working credential are never slowed; a request without any
credential is not a guess either (browsers ask first, then send one).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class FailureWindow:
    limit: int  # failures per address within the window; 0: never throttled
    window: float  # seconds
    keep: int = 10_000  # addresses remembered at most (the oldest are forgotten first)
    failures: dict[str, deque[float]] = field(default_factory=dict)

    def failed(self, address: str, now: float) -> None:
        """Count one failed authentication from ``address`` at ``now``."""
        if self.limit <= 0:
            return
        times = self.failures.get(address)
        if times is None or times.maxlen != self.limit:
            if len(self.failures) >= self.keep:
                self._forget(now)
            times = self.failures[address] = deque(times or (), maxlen=self.limit)
        times.append(now)

    def wait(self, address: str, now: float) -> float:
        """0.0 if ``address`` may try a credential now, else the seconds until it may."""
        times = self.failures.get(address)
        if self.limit <= 0 or times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[-self.limit] + self.window - now)

    def _forget(self, now: float) -> None:
        """Drop the addresses whose last failure left the window; if every one is
        recent, the oldest half (an attacker with many addresses cannot grow this)."""
        live = {a: t for a, t in self.failures.items() if t and t[-1] > now - self.window}
        if len(live) >= self.keep:
            live = dict(sorted(live.items(), key=lambda item: item[1][-1])[len(live) // 2 :])
        self.failures = live
