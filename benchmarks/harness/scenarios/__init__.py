"""The scenarios, one module each; every module's ``scenario(ctx)`` returns its runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.harness.run import Ctx
from benchmarks.harness.scenarios import alerts, latency, metrics, recovery, soak

Scenario = Callable[[Ctx], Awaitable[list[dict[str, Any]]]]

# in the order `all` runs them: latency before soak, which runs at 80% of what latency found
SCENARIOS: dict[str, Scenario] = {
    "metrics": metrics.scenario,
    "alerts": alerts.scenario,
    "latency": latency.scenario,
    "soak": soak.scenario,
    "recovery": recovery.scenario,
}
