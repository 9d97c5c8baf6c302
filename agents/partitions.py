"""Which partitions this worker owns, and loading their state once they are recovered.

Agents and timers share one view: a partition's in-memory state is built from the
RocksDB tables the first time it is needed after assignment, and dropped on revocation.
"""

from __future__ import annotations

from collections.abc import Callable

from app.faust_app import app


class OwnedPartitions:
    def __init__(self, topic: str, load: Callable[[int], None], drop: Callable[[int], None]):
        self.topic = topic
        self._load = load
        self._drop = drop
        self.loaded: set[int] = set()

    def ready(self) -> bool:
        return not (app.rebalancing or app.in_recovery)

    def ensure(self, partition: int) -> None:
        if partition not in self.loaded:
            self._load(partition)
            self.loaded.add(partition)

    def sync(self) -> set[int]:
        """Load newly assigned partitions, drop revoked ones; returns those owned now."""
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == self.topic}
        for p in self.loaded - owned:
            self._drop(p)
        self.loaded &= owned
        for p in owned - self.loaded:
            self.ensure(p)
        return owned
