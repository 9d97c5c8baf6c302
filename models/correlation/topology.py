"""The service or device graph that topology rules and the learner read.

An undirected neighbour map per tenant: from config (inline or a file, shared by every
tenant) and from records on the compacted `topology` topic (one record per tenant
holding its whole graph, so compaction keeps exactly the current graph).  A tenant's
own graph, once given, replaces the configured one for that tenant.

Shape of a graph, in config, in a file (JSON or YAML) and on the topic::

    {"neighbours": {"api": ["db", "cache"], "db": ["storage"]}}
    {"edges": [["api", "db"], ["db", "storage"]]}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

EMPTY: frozenset[str] = frozenset()


class TopologyError(ValueError):
    pass


def parse_graph(data: Any) -> dict[str, frozenset[str]]:
    """A neighbour map from either shape above; raises TopologyError with the reason."""
    if not isinstance(data, Mapping):
        raise TopologyError("topology: expected an object with 'neighbours' or 'edges'")
    pairs: list[tuple[str, str]] = []
    neighbours = data.get("neighbours", {})
    if not isinstance(neighbours, Mapping):
        raise TopologyError("topology.neighbours: expected a map of node -> list of nodes")
    for node, near in neighbours.items():
        if not isinstance(near, list) or not all(isinstance(n, str) for n in near):
            raise TopologyError(f"topology.neighbours.{node}: expected a list of node names")
        pairs.extend((str(node), n) for n in near)
    edges = data.get("edges", [])
    if not isinstance(edges, list):
        raise TopologyError("topology.edges: expected a list of [node, node] pairs")
    for i, e in enumerate(edges):
        if not (isinstance(e, list | tuple) and len(e) == 2 and all(isinstance(n, str) for n in e)):
            raise TopologyError(f"topology.edges[{i}]: expected [node, node]")
        pairs.append((e[0], e[1]))
    unknown = sorted(set(data) - {"neighbours", "edges"})
    if unknown:
        raise TopologyError(f"topology: unknown key {', '.join(unknown)}")
    return undirected(pairs)


def undirected(pairs: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    near: defaultdict[str, set[str]] = defaultdict(set)
    for a, b in pairs:
        if a != b:
            near[a].add(b)
            near[b].add(a)
    return {k: frozenset(v) for k, v in near.items()}


class Topology:
    """Neighbours of a node, per tenant; ``label`` names the alert label that holds an
    alert's node (its service, device or host)."""

    def __init__(self, label: str, graph: Mapping[str, frozenset[str]] | None = None) -> None:
        self.label = label
        self.default = dict(graph or {})
        self.tenants: dict[str, dict[str, frozenset[str]]] = {}

    def node(self, labels: Mapping[str, str]) -> str | None:
        return labels.get(self.label)

    def neighbours(self, tenant: str, node: str) -> frozenset[str]:
        return self.tenants.get(tenant, self.default).get(node, EMPTY)

    def near(self, tenant: str, a: str, b: str) -> bool:
        """Same node or neighbours."""
        return a == b or b in self.neighbours(tenant, a)

    def within(self, tenant: str, a: str, b: str, hops: int) -> bool:
        """``b`` is at most ``hops`` links from ``a`` (breadth-first, stops at ``hops``)."""
        if a == b:
            return True
        graph = self.tenants.get(tenant, self.default)
        seen, frontier = {a}, {a}
        for _ in range(hops):
            frontier = {n for f in frontier for n in graph.get(f, EMPTY)} - seen
            if b in frontier:
                return True
            if not frontier:
                return False
            seen |= frontier
        return False

    def set_tenant(self, tenant: str, graph: Mapping[str, frozenset[str]] | None) -> None:
        """A tenant's own graph (from the topic); None goes back to the configured one."""
        if graph is None:
            self.tenants.pop(tenant, None)
        else:
            self.tenants[tenant] = dict(graph)

    def graph_of(self, tenant: str) -> dict[str, frozenset[str]]:
        return self.tenants.get(tenant, self.default)


def graph_to_wire(graph: Mapping[str, frozenset[str]]) -> dict[str, Any]:
    return {"neighbours": {k: sorted(v) for k, v in sorted(graph.items())}}
