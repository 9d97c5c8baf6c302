"""A generated alert history whose acknowledgements and resolves are known, and a
dict standing in for the analytics table: the ground truth for the analytics tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from models.analytics.spec import AnalyticsSpec
from models.analytics.tracker import Batch

T0 = 1_795_000_000.0  # Wednesday 2026-11-18 11:06:40 UTC: within business hours


class DictStore:
    """The analytics table's get / put / prefix scan, values through JSON as on disk."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> Any:
        raw = self.data.get(key)
        return None if raw is None else orjson.loads(raw)

    def apply(self, writes: dict[str, Any]) -> None:
        for k, v in writes.items():
            if v is None:
                self.data.pop(k, None)
            else:
                self.data[k] = orjson.dumps(v)

    def scan(self, prefix: str) -> Iterator[tuple[str, Any]]:
        for k in sorted(self.data):
            if k.startswith(prefix):
                yield k, orjson.loads(self.data[k])

    def feed(self, tenant: str, events: list[dict[str, Any]], spec: AnalyticsSpec) -> None:
        batch = Batch(self.get, spec)
        for e in events:
            batch.history(tenant, e)
        self.apply(batch.writes())


@dataclass
class Truth:
    fp: str
    rule: str
    fired: float
    acked: float | None
    resolved: float | None
    group_key: str


def generate(rng: random.Random, n: int, rules: int = 3) -> tuple[list[dict], list[Truth]]:
    """``n`` alerts over two days: each fires, is notified a second later, maybe
    acknowledged (by fingerprint), maybe resolved. Events in time order."""
    events: list[dict[str, Any]] = []
    truth: list[Truth] = []
    for i in range(n):
        rule = f"R{rng.randrange(rules)}"
        fp = f"fp{i:05d}"
        fired = T0 + rng.uniform(0, 2 * 86400)
        tta = rng.lognormvariate(5, 1.2) if rng.random() < 0.7 else None
        ttr = (tta or 0) + rng.lognormvariate(7, 1) if rng.random() < 0.9 else None
        gk = f'{{}}:{{alertname="{rule}", instance="{i}"}}'
        labels = {"alertname": rule, "severity": "critical", "team": "db", "instance": str(i)}
        events.append(
            {"kind": "alert", "fingerprint": fp, "status": "firing", "at": fired, "labels": labels}
        )
        events.append(
            {
                "kind": "notification",
                "receiver": "pager",
                "group_key": gk,
                "new_firing": [fp],
                "new_resolved": [],
                "at": fired + 1,
            }
        )
        if tta is not None:
            events.append(
                {"kind": "action", "op": "ack", "fingerprints": [fp], "at": fired + 1 + tta}
            )
        if ttr is not None:
            events.append(
                {"kind": "alert", "fingerprint": fp, "status": "resolved", "at": fired + 1 + ttr}
            )
        truth.append(
            Truth(
                fp,
                rule,
                fired,
                None if tta is None else fired + 1 + tta,
                None if ttr is None else fired + 1 + ttr,
                gk,
            )
        )
    events.sort(key=lambda e: e["at"])
    return events, truth


def feed_in_batches(
    store: DictStore, tenant: str, events: list[dict], spec: AnalyticsSpec, rng: random.Random
) -> None:
    i = 0
    while i < len(events):
        k = rng.randint(1, 50)
        store.feed(tenant, events[i : i + k], spec)
        i += k
