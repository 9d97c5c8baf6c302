"""A causal graph between alert kinds, learned online from when and where alerts start.

One ``CausalLearner`` per tenant.  Each alert is one call, in time order::

    learner = CausalLearner(window=60.0, neighbours={"db1": ["app1"]})
    learner.learn_one("DiskFull", t=100.0, source="db1")
    learner.learn_one("SlowQueries", t=104.0, source="db1")
    ...
    learner.edges()            # [("DiskFull", "SlowQueries", 0.83), ...]
    learner.root_cause(["SlowQueries", "DiskFull"])   # "DiskFull"

Why this shape.  An edge ``i -> j`` claims that alerts of kind ``i`` raise the rate of
alerts of kind ``j`` near them (same source, or a neighbour in the topology, within
``window`` seconds) — what a Hawkes process with a short kernel says.  The learner keeps
two count matrices, updated in one pass over a bounded buffer of recent alerts (and a
Hawkes fit, see 3. below):

* ``near[i, j]``: alerts of kind ``j`` with at least one alert of kind ``i`` within
  ``±window`` on the same or a neighbouring source;
* ``first[i, j]``: pairs (an ``i`` alert, a ``j`` alert) near each other where ``i``
  started strictly first.

and, per kind, how many of its alerts were *spontaneous* (``alone``: no alert of another
kind within the window before it, in arrival order, on the same or a neighbouring
source), and, per source, how many alerts of each kind it raised.  The graph is read from these
with tests at significance levels rather than tuned thresholds:

1. **Link** (skeleton): if kinds were independent Poisson streams at their observed
   per-source rates, kind ``j``'s alerts would see an ``i`` within ``±window`` with
   probability ``1 - exp(-2 window rate_i(near source))``.  The pair is linked when the
   observed count exceeds that expectation at family-wise level ``alpha`` (Bonferroni
   over the pairs), seen from both kinds.
2. **Direction**, two tests at level ``direction_alpha``, the first that speaks decides:

   a. *Exogeneity* (per kind, a two-proportion test on ``alone``): in a Hawkes process a
      cause's alerts are mostly background — they start with nothing else going on —
      while an effect's mostly follow another alert.  If ``j`` starts spontaneously
      significantly more often than ``i``, no ``i -> j``; if ``i`` does more than ``j``,
      ``i -> j`` only.  It pools every alert of the two kinds, so it still speaks when
      alerts start in the same second or in bursts where the pairwise order is noise.
   b. *Order* (per pair, a one-sided sign test on ``first``): if ``j`` comes first
      significantly more often, no ``i -> j``.

   If neither speaks both directions are kept (the data cannot tell, and dropping a
   true link costs recall).
3. **Direct** (off by default): an online Hawkes fit (``models/correlation/hawkes.py``)
   attributes each alert to its likely parent.  With ``direct_share > 0`` a link whose
   co-occurrence the fit explains by other causes (a common cause of both kinds, or a
   chain through a third) is dropped: at least ``direct_share`` of the excess
   co-occurrence must be attributed to ``i``.  Off by default because causal graphs of
   real alarms are dense (expert graphs link 45-50% of the pairs), so an indirect link
   is often a direct one too: measured on the 18V set with the tests above, the pruning
   cost more recall than it gained precision (docs/correlation.md).

The score of an edge is the share of the effect's co-occurrences with the cause that
the base rates do not explain, ``1 - expected / observed`` (0..1).  Bounded memory:
at most ``max_kinds`` kinds (alerts of further kinds are counted nowhere), at most
``max_sources`` sources with counts (least recently seen dropped) and ``max_buffer``
recent alerts per source.  The state is plain data (``to_state``/``from_state``),
so a table can checkpoint it.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from models.correlation.hawkes import HawkesAttribution
from models.correlation.significance import poisson_sf, sign_test_sf, two_proportion_sf
from models.correlation.topology import undirected

STATE_VERSION = 2
READ_VERSIONS = (1, 2)  # a version-1 state has no ``alone``: exogeneity starts from 0


class _Recent:
    """An alert in the buffer and the kinds already seen near it (each counted once)."""

    __slots__ = ("kind", "seen", "t")

    def __init__(self, t: float, kind: int, seen: set[int]) -> None:
        self.t = t
        self.kind = kind
        self.seen = seen


class CausalLearner:
    """Online causal graph between alert kinds; see the module docstring."""

    def __init__(
        self,
        window: float = 60.0,
        alpha: float = 0.01,
        direction_alpha: float = 0.05,
        neighbours: Mapping[str, Iterable[str]] | None = None,
        direct_share: float = 0.0,
        max_kinds: int = 256,
        max_sources: int = 10_000,
        max_buffer: int = 256,
        refresh: int = 1000,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        if not (0 < alpha < 1 and 0 < direction_alpha < 1):
            raise ValueError("alpha and direction_alpha must be in (0, 1)")
        if not 0 <= direct_share <= 1:
            raise ValueError("direct_share must be in [0, 1]")
        self.window = float(window)
        self.alpha = alpha
        self.direction_alpha = direction_alpha
        self.direct_share = direct_share
        self.max_kinds = max_kinds
        self.max_sources = max_sources
        self.max_buffer = max_buffer
        self.refresh = refresh
        self.neighbours: dict[str, frozenset[str]] = {}
        self.set_neighbours(neighbours)
        self.kinds: dict[str, int] = {}
        self.names: list[str] = []
        self.near = np.zeros((0, 0))
        self.first = np.zeros((0, 0))
        self.alone = np.zeros(0)  # per kind: alerts with no other kind just before them
        self.per_source: OrderedDict[str, dict[int, int]] = OrderedDict()
        self.recent: dict[str, deque[_Recent]] = {}
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.learned = 0
        self.vetoed: set[tuple[str, str]] = set()
        self.confirmed: set[tuple[str, str]] = set()
        self.hawkes = HawkesAttribution(self.window)
        self._graph: np.ndarray | None = None  # scores, [cause, effect]; 0 = no edge
        self._graph_at = -1

    # -- learning -------------------------------------------------------------------

    def set_neighbours(self, neighbours: Mapping[str, Iterable[str]] | None) -> None:
        """Only alerts on the same or a neighbouring source excite each other."""
        self.neighbours = undirected(
            (node, other) for node, near in (neighbours or {}).items() for other in near
        )
        self._graph = None

    def learn_one(self, kind: str, t: float, source: str | None = None) -> None:
        """An alert of ``kind`` started at ``t`` (seconds) on ``source``."""
        k = self._index(kind)
        if k is None:
            return
        src = source or ""
        t = float(t)
        if self.t_first is None or t < self.t_first:
            self.t_first = t
        if self.t_last is None or t > self.t_last:
            self.t_last = t
        seen: set[int] = set()
        parents: list[int] = []
        near, first, window = self.near, self.first, self.window
        for s in self._near_sources(src):
            buf = self.recent.get(s)
            if not buf:
                continue
            while buf and t - buf[0].t > window:
                buf.popleft()
            for b in buf:
                j = b.kind
                if abs(t - b.t) > window:
                    continue
                if b.t <= t:
                    parents.append(j)
                if j == k:
                    continue
                if j not in seen:
                    seen.add(j)
                    near[j, k] += 1
                if k not in b.seen:
                    b.seen.add(k)
                    near[k, j] += 1
                if b.t < t:
                    first[j, k] += 1
                elif b.t > t:
                    first[k, j] += 1
        if all(p == k for p in parents):
            self.alone[k] += 1
        counts = self.per_source.get(src)
        elapsed = max(t - self.t_first, self.window)
        self.hawkes.learn_one(k, parents, (counts or {}).get(k, 0) / elapsed)
        buf = self.recent.setdefault(src, deque(maxlen=self.max_buffer))
        buf.append(_Recent(t, k, {k}))
        if counts is None:
            counts = self.per_source[src] = {}
            while len(self.per_source) > self.max_sources:
                old, _ = self.per_source.popitem(last=False)
                self.recent.pop(old, None)
        else:
            self.per_source.move_to_end(src)
        counts[k] = counts.get(k, 0) + 1
        self.learned += 1

    def _index(self, kind: str) -> int | None:
        k = self.kinds.get(kind)
        if k is not None:
            return k
        if len(self.names) >= self.max_kinds:
            return None
        k = len(self.names)
        self.kinds[kind] = k
        self.names.append(kind)
        if k >= self.near.shape[0]:
            size = max(8, 2 * self.near.shape[0])
            self.near = _grown(self.near, size)
            self.first = _grown(self.first, size)
            self.alone = np.concatenate([self.alone, np.zeros(size - len(self.alone))])
            self.hawkes.grow(size)
        return k

    def _near_sources(self, src: str) -> Iterable[str]:
        near = self.neighbours.get(src)
        return (src, *near) if near else (src,)

    # -- the graph --------------------------------------------------------------------

    def graph(self) -> np.ndarray:
        """Edge scores ``[cause, effect]`` over ``self.names`` (0 where no edge),
        recomputed when ``refresh`` alerts, and a tenth more than then, were learned
        since the last time (the graph settles as evidence grows; a recompute costs
        O(sources x kinds + kinds^2))."""
        if (
            self._graph is None
            or self.learned - self._graph_at >= max(self.refresh, self._graph_at // 10)
            or len(self._graph) != len(self.names)  # a new kind since
        ):
            self._graph = self._compute()
            self._graph_at = self.learned
        return self._graph

    def expected_near(self) -> np.ndarray:
        """``near`` as independent Poisson streams at the per-source rates would make it."""
        n = len(self.names)
        if n == 0 or self.t_first is None or self.t_last is None:
            return np.zeros((n, n))
        sources = list(self.per_source)
        row = {s: r for r, s in enumerate(sources)}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[int] = []
        for r, counts in enumerate(self.per_source.values()):
            rows.extend([r] * len(counts))
            cols.extend(counts)
            vals.extend(counts.values())
        own = np.zeros((len(sources), n))
        own[rows, cols] = vals
        around = own
        if self.neighbours:
            around = own.copy()
            for r, s in enumerate(sources):
                for other in self.neighbours.get(s, ()):
                    if other in row:
                        around[r] += own[row[other]]
        span = max(self.t_last - self.t_first, self.window)
        p_near = -np.expm1(-2 * self.window * around / span)  # [source, i]
        return p_near.T @ own  # [i, j]

    def _compute(self) -> np.ndarray:
        n = len(self.names)
        scores = np.zeros((n, n))
        if n < 2:
            return scores
        near = self.near[:n, :n]
        first = self.first[:n, :n]
        expected = self.expected_near()
        level = self.alpha / (n * (n - 1) / 2)  # Bonferroni over unordered pairs
        linked = np.zeros((n, n), dtype=bool)
        for i, j in zip(*np.nonzero((near > expected) & (near.T > expected.T)), strict=True):
            if i < j and all(
                poisson_sf(near[a, b], expected[a, b]) < level for a, b in ((i, j), (j, i))
            ):
                linked[i, j] = linked[j, i] = True
        direct = self.hawkes.attributed[:n, :n]
        alone, total = self.alone[:n], self.hawkes.count[:n]
        for i, j in zip(*np.nonzero(linked), strict=True):
            if two_proportion_sf(alone[j], total[j], alone[i], total[i]) < self.direction_alpha:
                continue  # j significantly more exogenous: no i -> j
            exogenous = (
                two_proportion_sf(alone[i], total[i], alone[j], total[j]) < self.direction_alpha
            )
            ji = int(first[j, i])
            if not exogenous and sign_test_sf(ji, ji + int(first[i, j])) < self.direction_alpha:
                continue  # j significantly first: no i -> j
            if direct[i, j] < self.direct_share * (near[i, j] - expected[i, j]):
                continue  # the Hawkes fit explains the co-occurrence by other causes
            scores[i, j] = max(1e-9, 1.0 - expected[i, j] / near[i, j])
        for cause, effect in self.confirmed:
            scores[self.kinds[cause], self.kinds[effect]] = 1.0
        for cause, effect in self.vetoed:
            if cause in self.kinds and effect in self.kinds:
                scores[self.kinds[cause], self.kinds[effect]] = 0.0
        return scores

    def score_one(self, cause: str, effect: str) -> float:
        """Strength of the learned edge cause -> effect (0: none, or vetoed; 1: confirmed)."""
        i, j = self.kinds.get(cause), self.kinds.get(effect)
        if (cause, effect) in self.vetoed:
            return 0.0
        if (cause, effect) in self.confirmed:
            return 1.0
        if i is None or j is None:
            return 0.0
        return float(self.graph()[i, j])

    def edges(self, min_score: float | None = None) -> list[tuple[str, str, float]]:
        """The learned edges, strongest first."""
        g = self.graph()
        floor = 0.0 if min_score is None else min_score
        out = [
            (self.names[i], self.names[j], round(float(g[i, j]), 6))
            for i, j in zip(*np.nonzero(g), strict=True)
            if g[i, j] > 0 and g[i, j] >= floor
        ]
        out.extend(
            (c, e, 1.0)
            for c, e in sorted(self.confirmed)
            if (c not in self.kinds or e not in self.kinds)
        )
        return sorted(out, key=lambda e: (-e[2], e[0], e[1]))

    def root_cause(self, kinds: list[str]) -> str | None:
        """The most upstream kind among ``kinds``: the most edges out to the others minus
        edges in (then the larger score balance); with no edges, the first given."""
        distinct = list(dict.fromkeys(kinds))
        if not distinct:
            return None

        def upstream(c: str) -> tuple[int, float]:
            net, weight = 0, 0.0
            for o in distinct:
                if o == c:
                    continue
                out, into = self.score_one(c, o), self.score_one(o, c)
                net += (out > 0) - (into > 0)
                weight += out - into
            return net, weight

        best = distinct[0]
        best_key = upstream(best)
        for c in distinct[1:]:
            key = upstream(c)
            if key > best_key:
                best, best_key = c, key
        return best

    # -- review ---------------------------------------------------------------------

    def veto(self, cause: str, effect: str) -> None:
        """A person says cause -> effect is wrong: it is never used again."""
        self.confirmed.discard((cause, effect))
        self.vetoed.add((cause, effect))
        self._graph = None

    def confirm(self, cause: str, effect: str) -> None:
        """A person says cause -> effect is right: it is used at full strength."""
        self.vetoed.discard((cause, effect))
        self.confirmed.add((cause, effect))
        self._graph = None

    # -- state ----------------------------------------------------------------------

    def state_size(self) -> int:
        """Counters held (matrix cells, per-source counts, buffered alerts)."""
        n = len(self.names)
        return (
            2 * n * n
            + n
            + sum(len(c) for c in self.per_source.values())
            + sum(len(b) for b in self.recent.values())
        )

    def to_state(self) -> dict[str, Any]:
        """Plain JSON-able data; ``from_state`` rebuilds an equal learner."""
        n = len(self.names)
        return {
            "version": STATE_VERSION,
            "params": {
                "window": self.window,
                "alpha": self.alpha,
                "direction_alpha": self.direction_alpha,
                "direct_share": self.direct_share,
                "max_kinds": self.max_kinds,
                "max_sources": self.max_sources,
                "max_buffer": self.max_buffer,
                "refresh": self.refresh,
            },
            "kinds": list(self.names),
            "near": self.near[:n, :n].astype(int).tolist(),
            "first": self.first[:n, :n].astype(int).tolist(),
            "alone": self.alone[:n].astype(int).tolist(),
            "per_source": [[s, sorted(c.items())] for s, c in self.per_source.items()],
            "recent": [
                [s, [[b.t, b.kind, sorted(b.seen)] for b in buf]] for s, buf in self.recent.items()
            ],
            "t_first": self.t_first,
            "t_last": self.t_last,
            "learned": self.learned,
            "hawkes": self.hawkes.to_state(n),
            "vetoed": sorted(self.vetoed),
            "confirmed": sorted(self.confirmed),
        }

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], neighbours: Mapping[str, Iterable[str]] | None = None
    ) -> CausalLearner:
        if state.get("version") not in READ_VERSIONS:
            raise ValueError(f"unknown learner state version {state.get('version')!r}")
        learner = cls(neighbours=neighbours, **state["params"])
        for kind in state["kinds"]:
            learner._index(kind)
        n = len(learner.names)
        learner.near[:n, :n] = np.array(state["near"], dtype=float).reshape(n, n)
        learner.first[:n, :n] = np.array(state["first"], dtype=float).reshape(n, n)
        learner.alone[:n] = state.get("alone", [0] * n)
        for s, counts in state["per_source"]:
            learner.per_source[s] = {int(k): int(c) for k, c in counts}
        for s, buf in state["recent"]:
            learner.recent[s] = deque(
                (_Recent(float(t), int(k), set(seen)) for t, k, seen in buf),
                maxlen=learner.max_buffer,
            )
        learner.t_first = state["t_first"]
        learner.t_last = state["t_last"]
        learner.learned = int(state["learned"])
        learner.hawkes.load(state["hawkes"], n)
        learner.vetoed = {(c, e) for c, e in state["vetoed"]}
        learner.confirmed = {(c, e) for c, e in state["confirmed"]}
        return learner


def _grown(matrix: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((size, size))
    n = matrix.shape[0]
    out[:n, :n] = matrix
    return out
