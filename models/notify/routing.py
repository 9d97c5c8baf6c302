"""The routing tree, with Alertmanager's semantics (``dispatch/route.go``).

``build_routes(route_config)`` turns a validated ``RouteConfig`` into ``Route``
nodes that carry their effective options: receiver, group_by (or group-by-all for
``...``), group_wait / group_interval / repeat_interval (defaults 30s / 5m / 4h at
the root, inherited by children unless set), mute / active time intervals (not
inherited, as in Alertmanager).

``Route.match(labels)`` is Alertmanager's depth-first, left-to-right search: the
first matching child wins unless it has ``continue: true``; a node whose children
all miss matches itself.  Cost: one matcher check per visited node; ``RouteTree``
adds a bounded cache keyed by the label set for alert streams that repeat.

Group keys are Alertmanager's exactly: ``route.key + ":" + group labels`` as a Go
``LabelSet.String()``, e.g. ``{}/{env="prod"}:{alertname="X"}``.

Tenancy: ``tenant`` is always an alert label.  Group keys stay byte-identical to
Alertmanager's, so the dispatcher keys aggregation groups by ``(tenant, group_key)``
(``Route.group_id``): two tenants never share a group even when ``group_by`` leaves
``tenant`` out, and a ``group_by: [tenant, ...]`` key is still Alertmanager's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.suppression.matchers import (
    Matcher,
    format_matchers,
    go_quote,
    matches_all,
    sort_matchers,
)

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


def format_label_set(labels: Mapping[str, str]) -> str:
    """Go ``model.LabelSet.String()``: ``{a="1", b="2"}``, sorted by name."""
    return "{" + ", ".join(f"{k}={go_quote(labels[k])}" for k in sorted(labels)) + "}"


class Route:
    """One node of the routing tree with its effective options."""

    __slots__ = (
        "active_time_intervals",
        "continue_",
        "group_by",
        "group_by_all",
        "group_interval",
        "group_wait",
        "id",
        "key",
        "matchers",
        "mute_time_intervals",
        "notify_by",
        "parent",
        "receiver",
        "repeat_interval",
        "routes",
    )

    def __init__(
        self,
        *,
        receiver: str,
        matchers: tuple[Matcher, ...] = (),
        continue_: bool = False,
        group_by: frozenset[str] = frozenset(),
        group_by_all: bool = False,
        group_wait: float = DEFAULT_GROUP_WAIT,
        group_interval: float = DEFAULT_GROUP_INTERVAL,
        repeat_interval: float = DEFAULT_REPEAT_INTERVAL,
        mute_time_intervals: tuple[str, ...] = (),
        active_time_intervals: tuple[str, ...] = (),
        notify_by: str = "group",
        parent: Route | None = None,
    ) -> None:
        self.receiver = receiver
        self.matchers = sort_matchers(matchers)
        self.continue_ = continue_
        self.group_by = group_by
        self.group_by_all = group_by_all
        self.group_wait = group_wait
        self.group_interval = group_interval
        self.repeat_interval = repeat_interval
        self.mute_time_intervals = mute_time_intervals
        self.active_time_intervals = active_time_intervals
        self.notify_by = notify_by  # "incident": one group per incident (dispatch.py)
        self.parent = parent
        self.routes: list[Route] = []
        self.key = (parent.key + "/" if parent is not None else "") + format_matchers(self.matchers)
        self.id = self.key

    # --- building ---------------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: Any, parent: Route | None = None) -> Route:
        """From a ``RouteConfig`` (duck-typed), inheriting options from ``parent``."""
        if parent is None:
            receiver, group_by, group_by_all = "", frozenset(), False
            gw, gi, ri = DEFAULT_GROUP_WAIT, DEFAULT_GROUP_INTERVAL, DEFAULT_REPEAT_INTERVAL
        else:
            receiver, group_by, group_by_all = parent.receiver, parent.group_by, parent.group_by_all
            gw, gi, ri = parent.group_wait, parent.group_interval, parent.repeat_interval
        if cfg.receiver:
            receiver = cfg.receiver
        if cfg.group_by is not None:
            if list(cfg.group_by) == ["..."]:
                group_by, group_by_all = frozenset(), True
            else:
                group_by, group_by_all = frozenset(cfg.group_by), False
        node = cls(
            receiver=receiver,
            matchers=tuple(cfg.all_matchers()),
            continue_=bool(cfg.continue_),
            group_by=group_by,
            group_by_all=group_by_all,
            group_wait=gw if cfg.group_wait is None else cfg.group_wait,
            group_interval=gi if cfg.group_interval is None else cfg.group_interval,
            repeat_interval=ri if cfg.repeat_interval is None else cfg.repeat_interval,
            mute_time_intervals=tuple(cfg.mute_time_intervals),
            active_time_intervals=tuple(cfg.active_time_intervals),
            notify_by=getattr(cfg, "notify_by", "group"),
            parent=parent,
        )
        node.routes = [cls.from_config(c, node) for c in cfg.routes]
        for i, child in enumerate(node.routes):
            child.id = f"{child.key}/{i}"
        return node

    # --- matching ---------------------------------------------------------------------
    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The matching nodes, depth-first, left to right ([] if this node misses)."""
        if self.matchers and not matches_all(self.matchers, labels):
            return []
        out: list[Route] = []
        for child in self.routes:
            m = child.match(labels)
            if m:
                out.extend(m)
                if not child.continue_:
                    break
        return out or [self]

    def walk(self):
        yield self
        for r in self.routes:
            yield from r.walk()

    # --- grouping ---------------------------------------------------------------------
    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The alert's labels that this route groups by (all of them for ``...``);
        labels the alert lacks are left out, as in Alertmanager."""
        if self.group_by_all:
            return dict(labels)
        gb = self.group_by
        return {k: v for k, v in labels.items() if k in gb}

    def group_key(self, group_labels: Mapping[str, str]) -> str:
        return f"{self.key}:{format_label_set(group_labels)}"

    def group_id(self, tenant: str, labels: Mapping[str, str]) -> tuple[str, str]:
        """``(tenant, group_key)``: the dispatcher's aggregation-group identity."""
        return tenant, self.group_key(self.group_labels(labels))

    def opts(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "group_by": ["..."] if self.group_by_all else sorted(self.group_by),
            "group_wait": self.group_wait,
            "group_interval": self.group_interval,
            "repeat_interval": self.repeat_interval,
            "mute_time_intervals": list(self.mute_time_intervals),
            "active_time_intervals": list(self.active_time_intervals),
        }

    def __repr__(self) -> str:
        return f"Route({self.id!r}, receiver={self.receiver!r})"


def group_key(route: Route, group_labels: Mapping[str, str]) -> str:
    """Alertmanager's aggregation-group key: ``{route key}:{group labels}``."""
    return route.group_key(group_labels)


def build_routes(cfg: Any) -> Route:
    """The root ``Route`` from a validated root ``RouteConfig``."""
    return Route.from_config(cfg)


class RouteTree:
    """The root plus caches that make routing an alert two dict lookups.

    Which routes match depends only on the values of the labels that the tree's
    matchers name, and a group key only on the values of the route's ``group_by``
    labels; both are cached by those values (bounded), so a stream of distinct alerts
    that share them (hosts of one service) walks the tree and formats keys once."""

    __slots__ = ("_cache", "_group_names", "_keys", "_names", "max_cache", "root")

    def __init__(self, root: Route, max_cache: int = 100_000) -> None:
        self.root = root
        self.max_cache = max_cache
        self._names = tuple(sorted({m.name for r in root.walk() for m in r.matchers}))
        self._group_names = {r.id: tuple(sorted(r.group_by)) for r in root.walk()}
        self._cache: dict[Any, list[Route]] = {}
        self._keys: dict[Any, tuple[str, dict[str, str]]] = {}

    @classmethod
    def from_config(cls, cfg: Any, max_cache: int = 100_000) -> RouteTree:
        return cls(build_routes(cfg), max_cache)

    def match(self, labels: Mapping[str, str], key: Any = None) -> list[Route]:
        """Matching routes (``root.match``); ``key`` overrides the cache key."""
        k = key if key is not None else tuple([labels.get(n) for n in self._names])
        r = self._cache.get(k)
        if r is None:
            if len(self._cache) >= self.max_cache:
                self._cache.clear()
            r = self._cache[k] = self.root.match(labels)
        return r

    def group(self, route: Route, labels: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        """``(group key, group labels)`` of an alert on a matching route."""
        if route.group_by_all:
            group_labels = route.group_labels(labels)
            return route.group_key(group_labels), group_labels
        k = (route.id, *[labels.get(n) for n in self._group_names[route.id]])
        found = self._keys.get(k)
        if found is None:
            if len(self._keys) >= self.max_cache:
                self._keys.clear()
            group_labels = route.group_labels(labels)
            found = self._keys[k] = (route.group_key(group_labels), group_labels)
        return found

    def receivers(self, labels: Mapping[str, str]) -> list[str]:
        return [r.receiver for r in self.match(labels)]
