"""Which incident an alert belongs to: correlation rules, topology and learned links.

``Correlator.learn_one(alert, partition, t)`` assigns a changed alert to an incident
and updates the state; ``score_one(alert, t)`` says where it would go, changing nothing.
For a newly firing alert, in order:

1. **rules** (``CorrelationRule``): only the rules whose literal matcher the alert's
   labels satisfy are looked at (``MatcherIndex``: dict lookups, not every rule against
   every alert); each names the incident last seen with the same ``correlate_by``
   values (and, for a topology rule, on the alert's node or a neighbour) in one dict
   lookup per node; it joins if that incident is not resolved, its last alert is within
   ``window`` and it is younger than ``max_age``;
2. **learned links** (when a learner is configured): among the few incidents most
   recently active on the alert's source (or, with a topology, a neighbouring node),
   the one with the strongest learned link between one of its kinds there and the
   alert's kind, if that score reaches ``min_score`` within ``window``, the incident is
   younger than ``max_age`` and (with a topology) the alert's source is at most
   ``max_hops`` links from the incident's first source — links chain, so without these
   bounds one incident drifts across a busy network for as long as alerts keep coming;
   the learner itself learns only from alerts on the same or neighbouring sources;
3. else a new candidate incident.

A resolved alert only updates its incident's counts.  Every firing alert also teaches
the tenant's learner (``learn_one(kind, t, source)``).  O(1) per alert: a few lookups,
at most sources x ``recent`` x ``max_kinds`` link scores when no rule matched.

Pure logic; the runtime persists what ``drain()`` names (``agents/incidents.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from models.alerting.alert import FIRING, Alert
from models.correlation.incident import FIRST, PENDING, Incident, Member, incident_id
from models.correlation.topology import Topology
from models.suppression.inhibit import MatcherIndex
from models.suppression.matchers import Matcher, matches_all

LEARNED = "learned"
MAX_RANKED = 16  # kinds of an incident the root-cause ranking looks at


class Learner(Protocol):
    """The learned causal graph between alert kinds (``models/correlation/learner.py``)."""

    def learn_one(self, kind: str, t: float, source: str | None = None) -> None: ...
    def score_one(self, cause: str, effect: str) -> float: ...
    def root_cause(self, kinds: list[str]) -> str | None: ...
    def set_neighbours(self, neighbours: Mapping[str, Iterable[str]] | None) -> None: ...
    def edges(self, min_score: float | None = None) -> list[tuple[str, str, float]]: ...
    def veto(self, cause: str, effect: str) -> None: ...
    def confirm(self, cause: str, effect: str) -> None: ...
    def to_state(self) -> dict[str, Any]: ...

    vetoed: set[tuple[str, str]]  # edges people said are wrong: never used
    confirmed: set[tuple[str, str]]
    learned: int  # alerts learned from


class LearnerType(Protocol):
    """How learners are made: new, or from a checkpointed state (a learner class)."""

    def __call__(
        self, *, neighbours: Mapping[str, Iterable[str]] | None = None, window: float = ...
    ) -> Learner: ...

    def from_state(
        self, state: Mapping[str, Any], neighbours: Mapping[str, Iterable[str]] | None = None
    ) -> Learner: ...


@dataclass(frozen=True, slots=True)
class CorrelationRule:
    """Alerts sharing ``correlate_by`` values (and matched by ``matchers``; on the same
    or neighbouring topology nodes when ``topology``) join one incident while its last
    alert is at most ``window`` old and it is younger than ``max_age``; the incident
    opens at ``min_alerts`` firing alerts."""

    name: str
    correlate_by: tuple[str, ...] = ()
    window: float = 300.0
    max_age: float = 3600.0
    min_alerts: int = 2
    matchers: tuple[Matcher, ...] = ()
    topology: bool = False

    def key(self, labels: Mapping[str, str]) -> tuple[str, ...] | None:
        """The alert's ``correlate_by`` values; None if it lacks one (the rule does not
        apply) or the matchers miss."""
        values = tuple([labels.get(n) or "" for n in self.correlate_by])
        if "" in values:
            return None
        if self.matchers and not matches_all(self.matchers, labels):
            return None
        return values


@dataclass(frozen=True, slots=True)
class LearnedJoin:
    """When a learned link joins an alert to a recent incident."""

    min_score: float = 0.5
    window: float = 60.0  # also the learner's co-occurrence window
    max_age: float = 300.0  # links chain: a few windows, then a new incident
    min_alerts: int = 2
    max_hops: int = 1  # radius around the incident's first source (with a topology)
    recent: int = 4  # incidents looked at per source, most recently active first
    max_kinds: int = 8  # kinds of an incident on a source looked at, most recent first


class _Seen:
    """An incident as seen on one source: when its last alert there came, and when the
    last alert of each kind did (a link joins only to kinds seen within the window)."""

    __slots__ = ("kinds", "last")

    def __init__(self, last: float, kinds: OrderedDict[str, float]) -> None:
        self.last = last
        self.kinds = kinds


class Changes(NamedTuple):
    incidents: list[Incident]  # headers to write
    members: list[tuple[Incident, Member]]  # members to write
    gone_members: list[tuple[int, str, str]]  # (partition, incident, fp) to delete
    gone: dict[str, int]  # incidents to delete: id -> partition
    events: list[tuple[Incident, str]]  # what happened to which incident


class Joined(NamedTuple):
    incident: Incident
    how: str  # rule name, LEARNED or FIRST
    cause: str | None = None
    score: float | None = None


class Correlator:
    def __init__(
        self,
        rules: Iterable[CorrelationRule] = (),
        *,
        topology: Topology | None = None,
        learned: LearnedJoin | None = None,
        learner_type: LearnerType | None = None,
        kind_label: str = "alertname",
        source_labels: tuple[str, ...] = (),
        default_min_alerts: int = 2,
    ) -> None:
        self.rules = list(rules)
        self._rule_names = {r.name: r for r in self.rules}
        self._rule_index = MatcherIndex(enumerate(r.matchers for r in self.rules))
        self.topology = topology
        self.learned = learned if learner_type is not None else None
        # the learner's co-occurrence window is the learned join's: a link says "within"
        self.learned_window = learned.window if learned is not None else 60.0
        self.learner_type = learner_type
        self.kind_label = kind_label
        self.source_labels = source_labels
        self.default_min_alerts = default_min_alerts
        self.incidents: dict[str, Incident] = {}
        self.member_of: dict[str, str] = {}  # fingerprint -> its latest incident
        self.index: dict[tuple[Any, ...], str] = {}  # (tenant, rule, key, node) -> incident
        # (tenant, source) -> incident -> (its last alert there, its kinds there)
        self.recent: dict[tuple[str, str], OrderedDict[str, _Seen]] = {}
        self.kinds: dict[str, OrderedDict[str, None]] = {}  # incident -> kinds, first first
        self.learners: dict[str, Learner] = {}
        # for the owner to persist (drain)
        self.dirty: set[str] = set()  # incident headers
        self.dirty_members: set[tuple[str, str]] = set()  # (incident, fingerprint)
        self.gone_members: set[tuple[int, str, str]] = set()  # (partition, incident, fp)
        self.gone: dict[str, int] = {}  # incident -> partition
        self.events: dict[str, str] = {}  # incident -> what happened, for the topic
        self._unranked: set[str] = set()  # incidents with a new kind since the last drain

    # --- reading an alert ------------------------------------------------------------------
    def kind(self, labels: Mapping[str, str]) -> str:
        return labels.get(self.kind_label, "")

    def source(self, labels: Mapping[str, str]) -> str | None:
        if self.topology is not None:
            return self.topology.node(labels)
        for name in self.source_labels:
            v = labels.get(name)
            if v:
                return v
        return None

    def learner(self, tenant: str) -> Learner | None:
        if self.learner_type is None:
            return None
        found = self.learners.get(tenant)
        if found is None:
            found = self.learners[tenant] = self.learner_type(
                neighbours=self._graph(tenant), window=self.learned_window
            )
        return found

    def restore_learner(self, tenant: str, state: Mapping[str, Any]) -> None:
        """A tenant's learner from its checkpoint (``to_state``)."""
        if self.learner_type is not None:
            self.learners[tenant] = self.learner_type.from_state(state, self._graph(tenant))

    def set_topology(self, tenant: str, graph: Mapping[str, frozenset[str]] | None) -> None:
        """A tenant's own graph (from the `topology` topic); None: the configured one."""
        if self.topology is None:
            return
        self.topology.set_tenant(tenant, graph)
        learner = self.learners.get(tenant)
        if learner is not None:
            learner.set_neighbours(self._graph(tenant))

    def _graph(self, tenant: str) -> Mapping[str, frozenset[str]] | None:
        return self.topology.graph_of(tenant) if self.topology is not None else None

    def incident_of(self, alert: Alert) -> str | None:
        """The incident an alert was last assigned to (the dispatcher's notify_by)."""
        return self.member_of.get(alert.fingerprint)

    # --- the verbs ---------------------------------------------------------------------------
    def score_one(self, alert: Alert, t: float) -> Joined | None:
        """Where a newly firing alert would go (None: a new candidate); no state changes."""
        labels, tenant = alert.labels, alert.tenant
        node = self.topology.node(labels) if self.topology is not None else None
        for rule in self.rules_for(labels):
            key = rule.key(labels)
            if key is None:
                continue
            if rule.topology:
                if node is None or self.topology is None:
                    continue
                nodes: Iterable[str] = (node, *self.topology.neighbours(tenant, node))
            else:
                nodes = ("",)
            for n in nodes:
                inc = self.incidents.get(self.index.get((tenant, rule.name, key, n), ""))
                if (
                    inc is not None
                    and inc.alive
                    and t - inc.last_at <= rule.window
                    and t - inc.started_at <= rule.max_age
                ):
                    return Joined(inc, rule.name)
        return self._learned_join(alert, t)

    def learn_one(self, alert: Alert, partition: int, t: float) -> Incident | None:
        """Assign a changed alert (firing or resolved) and update the state; returns its
        incident (None for a resolved alert no incident holds)."""
        fp = alert.fingerprint
        known = self.incidents.get(self.member_of.get(fp, ""))
        if alert.status != FIRING:
            if known is not None and known.member_resolved(fp, t):
                self.events[known.id] = "resolved"
            if known is not None:
                self._touch(known, fp)
            return known
        learner = self.learner(alert.tenant)
        kind = self.kind(alert.labels)
        if learner is not None:
            learner.learn_one(kind, t, self.source(alert.labels))
        if known is not None and known.alive and known.members[fp].firing:
            self._touch(known, fp)  # already firing there: nothing new
            return known
        # new, or firing again: correlated like a new alert (it rejoins its incident if a
        # rule or link still says so), so a recurring alert does not chain incidents
        joined = self.score_one(alert, t)
        if joined is None:
            inc = Incident(
                incident_id(alert.tenant, fp, repr(t)),
                alert.tenant,
                partition,
                t,
                t,
                min_alerts=self._min_alerts_for(alert.labels),
            )
            self.incidents[inc.id] = inc
            joined = Joined(inc, FIRST)
        inc = joined.incident
        if joined.how in self._rule_names:
            rule = self._rule_names[joined.how]
            inc.min_alerts = min(inc.min_alerts, rule.min_alerts)
        elif joined.how == LEARNED and self.learned is not None:
            inc.min_alerts = min(inc.min_alerts, self.learned.min_alerts)
        member = Member(fp, kind, alert.labels, t, joined.how, joined.cause, joined.score)
        if inc.add(member):
            self.events[inc.id] = "opened"
        self.member_of[fp] = inc.id
        self._register(inc, alert, t)
        self._touch(inc, fp)
        return inc

    # --- by hand ------------------------------------------------------------------------------
    def acknowledge(self, incident: str, user: str) -> Incident:
        inc = self._get(incident)
        if inc.acknowledge(user):
            self.events[inc.id] = "acknowledged"
            self.dirty.add(inc.id)
        return inc

    def resolve(self, incident: str, t: float, user: str) -> Incident:
        inc = self._get(incident)
        if inc.resolve(t, user):
            self.events[inc.id] = "resolved"
            self.dirty.add(inc.id)
        return inc

    def merge(self, target: str, sources: Iterable[str]) -> Incident:
        """Sources' members move into target; each source ends resolved and empty."""
        into = self._get(target)
        for sid in sources:
            src = self._get(sid)
            if src is into:
                continue
            if src.tenant != into.tenant:
                raise ValueError(f"incident {sid} belongs to another tenant")
            for m in src.members.values():
                self.gone_members.add((src.partition, src.id, m.fingerprint))
            for m in into.absorb(src):
                self.member_of[m.fingerprint] = into.id
                self.dirty_members.add((into.id, m.fingerprint))
            for k in src.index_keys:
                if self.index.get(k) == src.id:
                    self.index[k] = into.id
                    into.index_keys.add(k)
            self.kinds.setdefault(into.id, OrderedDict()).update(self.kinds.pop(src.id, {}))
            self.dirty.add(src.id)
            self.events[src.id] = "merged"
        self._rank(into)
        self.dirty.add(into.id)
        self.events[into.id] = "merged"
        return into

    def split(self, incident: str, fingerprints: list[str], t: float) -> Incident:
        """The named members leave for a new incident, which is returned."""
        src = self._get(incident)
        missing = sorted(set(fingerprints) - set(src.members))
        if missing or not fingerprints:
            raise ValueError(f"not members of incident {incident}: {', '.join(missing) or '-'}")
        if len(set(fingerprints)) == len(src.members):
            raise ValueError("a split must leave at least one member behind")
        fps = sorted(set(fingerprints))
        out = src.split_off(fps, incident_id(src.id, *fps), t)
        self.incidents[out.id] = out
        for fp in fps:
            self.member_of[fp] = out.id
            self.gone_members.add((src.partition, src.id, fp))
            self.dirty_members.add((out.id, fp))
        for inc in (src, out):
            self.kinds[inc.id] = OrderedDict.fromkeys(m.kind for m in inc.members.values())
            self._rank(inc)
            self.dirty.add(inc.id)
            self.events[inc.id] = "split"
        return out

    def _get(self, incident: str) -> Incident:
        inc = self.incidents.get(incident)
        if inc is None:
            raise KeyError(incident)
        return inc

    # --- housekeeping ---------------------------------------------------------------------
    def gc(self, now: float, retention: float) -> None:
        """Forget resolved incidents past ``retention``, candidates that never opened, and
        what the learned joins remember of sources quiet for longer than their window."""
        for inc in list(self.incidents.values()):
            if inc.alive:
                continue
            if inc.status == PENDING or not inc.opened_at or inc.resolved_at + retention <= now:
                self._delete(inc)
        if self.learned is not None:
            window = self.learned.window
            for key, recent in list(self.recent.items()):
                for iid in [i for i, seen in recent.items() if now - seen.last > window]:
                    del recent[iid]
                if not recent:
                    del self.recent[key]

    def forget_partition(self, partition: int) -> None:
        for inc in [i for i in self.incidents.values() if i.partition == partition]:
            self._drop(inc)

    def load(self, incidents: Iterable[Incident]) -> None:
        """Restore incidents (with their members) read back from the table; in the order
        their last alerts came, so each index entry names the latest incident again."""
        for inc in sorted(incidents, key=lambda i: (i.last_at, i.started_at)):
            self.incidents[inc.id] = inc
            ordered = sorted(inc.members.values(), key=lambda m: m.joined_at)
            self.kinds[inc.id] = OrderedDict.fromkeys(m.kind for m in ordered)
            for m in ordered:
                known = self.incidents.get(self.member_of.get(m.fingerprint, ""))
                if known is None or not known.alive or inc.alive:
                    self.member_of[m.fingerprint] = inc.id
            if inc.alive:
                for m in ordered:
                    self._register_labels(inc, m.labels)
                    self._recent(inc, m.labels, m.kind, m.joined_at)

    def drain(self) -> Changes:
        """What changed since the last drain, for the owner to persist and publish."""
        for iid in self._unranked:
            inc = self.incidents.get(iid)
            if inc is not None:
                self._rank(inc)
        self._unranked = set()
        incidents = [self.incidents[i] for i in self.dirty if i in self.incidents]
        members = []
        for iid, fp in self.dirty_members:
            inc = self.incidents.get(iid)
            if inc is not None and fp in inc.members:
                members.append((inc, inc.members[fp]))
        gone_members = [g for g in self.gone_members if (g[1], g[2]) not in self.dirty_members]
        events = [
            (self.incidents[i], what) for i, what in self.events.items() if i in self.incidents
        ]
        out = Changes(incidents, members, gone_members, self.gone, events)
        self.dirty, self.dirty_members, self.gone_members = set(), set(), set()
        self.gone, self.events = {}, {}
        return out

    def rules_for(self, labels: Mapping[str, str]) -> list[CorrelationRule]:
        """The rules whose indexed literal matcher the labels satisfy, and the rules with
        none, in config order: the only ones an alert is checked against."""
        ids = self._rule_index.candidates(labels)
        if len(ids) > 1:
            ids.sort()
        return [self.rules[i] for i in ids]

    # --- internals ------------------------------------------------------------------------
    def _min_alerts_for(self, labels: Mapping[str, str]) -> int:
        applicable = [r.min_alerts for r in self.rules_for(labels) if r.key(labels) is not None]
        return min(applicable, default=self.default_min_alerts)

    def _register(self, inc: Incident, alert: Alert, t: float) -> None:
        self._register_labels(inc, alert.labels)
        kinds = self.kinds.setdefault(inc.id, OrderedDict())
        kind = self.kind(alert.labels)
        new_kind = kind not in kinds
        kinds[kind] = None  # in the order they joined
        if new_kind:  # ranked once per batch (drain), not once per new kind
            self._unranked.add(inc.id)
        self._recent(inc, alert.labels, kind, t)

    def _register_labels(self, inc: Incident, labels: Mapping[str, str]) -> None:
        node = self.topology.node(labels) if self.topology is not None else None
        for rule in self.rules_for(labels):
            key = rule.key(labels)
            if key is None or (rule.topology and node is None):
                continue
            k = (inc.tenant, rule.name, key, node if rule.topology else "")
            self.index[k] = inc.id
            inc.index_keys.add(k)

    def _recent(self, inc: Incident, labels: Mapping[str, str], kind: str, t: float) -> None:
        """Remember the incident as active on the alert's source, with the kind."""
        cfg = self.learned
        if cfg is None:
            return
        recent = self.recent.setdefault((inc.tenant, self.source(labels) or ""), OrderedDict())
        seen = recent.get(inc.id)
        if seen is None:
            seen = recent[inc.id] = _Seen(t, OrderedDict())
            while len(recent) > cfg.recent:
                recent.popitem(last=False)
        else:
            recent.move_to_end(inc.id)
            seen.last = max(seen.last, t)
        seen.kinds[kind] = max(t, seen.kinds.get(kind, t))
        seen.kinds.move_to_end(kind)
        if len(seen.kinds) > cfg.max_kinds:
            seen.kinds.popitem(last=False)

    def _rank(self, inc: Incident) -> None:
        """The probable root cause: the learner's pick among the kinds (the first
        ``MAX_RANKED`` that joined: it costs kinds² link scores), else the first kind."""
        learner = self.learner(inc.tenant)
        kinds = list(self.kinds.get(inc.id, ()))[:MAX_RANKED]
        cause = learner.root_cause(kinds) if learner is not None and len(kinds) > 1 else None
        if cause is None and inc.members:
            cause = next(iter(inc.members.values())).kind  # members in the order they joined
        if cause != inc.root_cause:
            inc.root_cause = cause
            self.dirty.add(inc.id)

    def _learned_join(self, alert: Alert, t: float) -> Joined | None:
        cfg = self.learned
        learner = self.learner(alert.tenant)
        if cfg is None or learner is None:
            return None
        tenant, kind = alert.tenant, self.kind(alert.labels)
        source = self.source(alert.labels) or ""
        sources: Iterable[str] = (source,)
        if self.topology is not None and source:
            sources = (source, *self.topology.neighbours(tenant, source))
        best: Joined | None = None
        for s in sources:
            for iid, seen in (self.recent.get((tenant, s)) or {}).items():
                if t - seen.last > cfg.window:
                    continue
                inc = self.incidents.get(iid)
                if inc is None or not inc.alive or t - inc.started_at > cfg.max_age:
                    continue
                if not self._within_reach(inc, source, cfg.max_hops):
                    continue
                for other, at in seen.kinds.items():
                    if t - at > cfg.window:
                        continue
                    forward = learner.score_one(other, kind)
                    backward = learner.score_one(kind, other)
                    score, cause = (forward, other) if forward >= backward else (backward, kind)
                    if score >= cfg.min_score and (best is None or score > (best.score or 0.0)):
                        best = Joined(inc, LEARNED, cause, round(score, 4))
        return best

    def _within_reach(self, inc: Incident, source: str, hops: int) -> bool:
        """The source is at most ``hops`` topology links from the incident's first one."""
        if self.topology is None or not source or not inc.members:
            return True
        origin = self.source(next(iter(inc.members.values())).labels)
        return origin is None or self.topology.within(inc.tenant, origin, source, hops)

    def _touch(self, inc: Incident, fp: str) -> None:
        self.dirty.add(inc.id)
        self.dirty_members.add((inc.id, fp))
        if inc.visible and inc.id not in self.events:
            self.events[inc.id] = "updated"

    def _delete(self, inc: Incident) -> None:
        for fp in inc.members:
            self.gone_members.add((inc.partition, inc.id, fp))
        self.gone[inc.id] = inc.partition
        self._drop(inc)

    def _drop(self, inc: Incident) -> None:
        self.incidents.pop(inc.id, None)
        self.kinds.pop(inc.id, None)
        self.dirty.discard(inc.id)
        for fp in inc.members:
            if self.member_of.get(fp) == inc.id:
                del self.member_of[fp]
        for k in inc.index_keys:
            if self.index.get(k) == inc.id:
                del self.index[k]
        for m in inc.members.values():
            recent = self.recent.get((inc.tenant, self.source(m.labels) or ""))
            if recent is not None:
                recent.pop(inc.id, None)
                if not recent:
                    del self.recent[(inc.tenant, self.source(m.labels) or "")]
