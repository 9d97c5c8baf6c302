"""RFC 6962 Merkle tree hashes, kept incrementally as a frontier.

A tenant's audit entries are the leaves of one append-only Merkle tree. A signed tree
head (size, root) commits to every entry up to that size: an entry edited, removed or
moved later changes the root a verifier recomputes. The frontier holds the roots of
the perfect subtrees the leaves form so far (one per set bit of the size, largest
first), so appending costs O(log n) and the state to keep is a few hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()  # RFC 6962: MTH({}) = SHA-256()


def leaf_hash(data: bytes) -> str:
    """MTH of one leaf: SHA-256(0x00 || data), hex."""
    return hashlib.sha256(b"\x00" + data).hexdigest()


def node_hash(left: str, right: str) -> str:
    """An interior node: SHA-256(0x01 || left || right), hex in and out."""
    return hashlib.sha256(b"\x01" + bytes.fromhex(left) + bytes.fromhex(right)).hexdigest()


class Frontier:
    """The compact state of an append-only tree: its size and its subtree roots."""

    def __init__(self, size: int = 0, hashes: Iterable[str] = ()) -> None:
        self.size = size
        self.hashes = list(hashes)
        if len(self.hashes) != bin(size).count("1"):
            raise ValueError(f"a frontier of size {size} holds {bin(size).count('1')} hashes")

    def append(self, leaf: str) -> None:
        """Add one leaf hash: merge equal-sized subtrees as a binary counter carries."""
        node, size = leaf, self.size
        while size & 1:
            node = node_hash(self.hashes.pop(), node)
            size >>= 1
        self.hashes.append(node)
        self.size += 1

    def root(self) -> str:
        """MTH of all leaves so far: the subtree roots folded right to left, which is
        RFC 6962's split at the largest power of two below the size."""
        if not self.hashes:
            return EMPTY_ROOT
        node = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            node = node_hash(h, node)
        return node

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)

    def to_wire(self) -> dict[str, object]:
        return {"size": self.size, "hashes": list(self.hashes)}

    @classmethod
    def from_wire(cls, data: dict[str, object]) -> Frontier:
        return cls(int(data["size"]), data["hashes"])  # type: ignore[arg-type, call-overload]


def tree_root(leaves: list[str]) -> str:
    """MTH over leaf hashes, by RFC 6962's recursive definition (the reference the
    frontier is tested against)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # largest power of two < n
    return node_hash(tree_root(leaves[:k]), tree_root(leaves[k:]))
