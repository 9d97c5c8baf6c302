"""Multivariate Hawkes processes with planted causal edges, simulated by their branching
structure (each alert spawns a Poisson number of children of the kinds it excites, after
exponential delays): data whose causes are known, for the learner's tests."""

from __future__ import annotations

import random

KINDS = [f"K{i}" for i in range(8)]
# a DAG with fan-out, fan-in and a chain; excitation = mean children per parent alert
PLANTED = {
    ("K0", "K1"): 0.6,
    ("K0", "K2"): 0.5,
    ("K1", "K3"): 0.6,
    ("K4", "K5"): 0.7,
    ("K6", "K5"): 0.5,
    ("K6", "K7"): 0.6,
}


def hawkes(
    seed: int,
    sources: int = 30,
    span: float = 400_000.0,
    base: float = 1 / 20_000,
    decay: float = 5.0,
    edges: dict[tuple[str, str], float] = PLANTED,
) -> list[tuple[float, str, str]]:
    """(t, kind, source) in time order; children on the parent's source."""
    rng = random.Random(seed)
    children: dict[str, list[tuple[str, float]]] = {}
    for (cause, effect), weight in edges.items():
        children.setdefault(cause, []).append((effect, weight))
    out: list[tuple[float, str, str]] = []
    for s in range(sources):
        queue = []
        for kind in KINDS:
            t = rng.expovariate(base)
            while t < span:
                queue.append((t, kind))
                t += rng.expovariate(base)
        while queue:
            t, kind = queue.pop()
            out.append((t, kind, f"dev{s}"))
            for effect, weight in children.get(kind, ()):
                for _ in range(_poisson(rng, weight)):
                    child = t + rng.expovariate(1 / decay)
                    if child < span:
                        queue.append((child, effect))
    out.sort()
    return out


def _poisson(rng: random.Random, mean: float) -> int:
    n, p, limit = 0, 1.0, pow(2.718281828459045, -mean)
    while True:
        p *= rng.random()
        if p < limit:
            return n
        n += 1
