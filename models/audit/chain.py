"""One tenant's chain as its owner extends it: sequence, last hash, tree frontier.

The owner of a tenant's partition is the only writer of its chain. The state is small
(a few hashes) and is rebuilt after a restart from a snapshot plus the entries the
topic holds past it (``follow``), so the chain neither forks nor skips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.audit.entry import CHECKPOINT, ENTRY, GENESIS, chain_entry
from models.audit.merkle import Frontier


@dataclass(slots=True)
class TenantChain:
    seq: int = 0  # entries so far (the last entry's sequence number)
    last: str = GENESIS  # the last entry's hash
    tree: Frontier = field(default_factory=Frontier)
    signed: int = 0  # size of the last signed checkpoint

    def append(self, req: dict[str, Any], origin: str) -> dict[str, Any]:
        """Chain a checked request as the next entry; returns the entry to store."""
        entry = chain_entry(req, self.seq + 1, self.last, origin)
        self._add(entry)
        return entry

    def _add(self, entry: dict[str, Any]) -> None:
        self.seq = entry["seq"]
        self.last = entry["hash"]
        self.tree.append(entry["hash"])

    def follow(self, record: dict[str, Any]) -> bool:
        """Take in a record read back from the topic (after a snapshot): the next entry
        extends the state, one already in it is skipped. Returns False for an entry
        that does not continue the chain (the caller logs it; ``audit verify`` names it)."""
        if record.get("kind") == CHECKPOINT:
            self.signed = max(self.signed, int(record["size"]))
            return True
        if record.get("kind") != ENTRY or record["seq"] <= self.seq:
            return True
        if record["seq"] != self.seq + 1 or record["prev"] != self.last:
            return False
        self._add(record)
        return True

    def unsigned(self) -> bool:
        return self.seq > self.signed

    def to_wire(self) -> dict[str, Any]:
        tree = self.tree.to_wire()
        return {"seq": self.seq, "last": self.last, "tree": tree, "signed": self.signed}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> TenantChain:
        return cls(data["seq"], data["last"], Frontier.from_wire(data["tree"]), data["signed"])
