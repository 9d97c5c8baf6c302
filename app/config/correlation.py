"""Config schema of ``correlation:`` in pipelines.yaml: rules, topology, learned links.

::

    correlation:
      rules:
        - name: outage
          correlate_by: [cluster]     # alerts sharing these label values
          window: 5m                  # of the incident's last alert
          max_age: 1h                 # of the incident
          min_alerts: 2               # firing alerts before a candidate is an incident
          matchers: ['severity=~"critical|warning"']
          topology: true              # ...and on the same or neighbouring nodes
      topology:
        label: service                # the label naming an alert's node
        neighbours: {api: [db, cache]}
        file: topology.json           # same shape (or {"edges": [[a, b], ...]})
      learned:                        # links learned online between alert kinds
        min_score: 0.5                # a link's score (0..1) to join on it
        window: 1m                    # alerts this close on near sources are linked
      retention: 24h                  # resolved incidents kept this long

Absent, the worker correlates nothing (the alert path is unchanged); ``correlation: {}``
turns it on with the defaults, which are the same as ``alertstream correlate group``
uses without ``--pipelines``: no rules (nothing is known about the labels), learned
links on, the kind is ``alertname``.  Validated where parsed: a topology file that
cannot be read or parsed is an error of its key.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.config.routing import MatcherList, RouteConfig
from models.correlation.correlator import CorrelationRule, Correlator, LearnedJoin
from models.correlation.learner import CausalLearner
from models.correlation.topology import Topology, TopologyError, parse_graph, undirected
from models.durations import Duration
from models.suppression.matchers import is_valid_label_name


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class CorrelationRuleConfig(_Model):
    name: str = Field(min_length=1)
    correlate_by: list[str] = []
    window: Duration = 300.0
    max_age: Duration = 3600.0
    min_alerts: int = Field(default=2, ge=1)
    matchers: MatcherList = Field(default_factory=list)
    topology: bool = False

    @field_validator("correlate_by")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        for n in v:
            if not is_valid_label_name(n):
                raise ValueError(f'invalid label name "{n}" in correlate_by')
        return v

    @model_validator(mode="after")
    def _something(self) -> CorrelationRuleConfig:
        if not self.correlate_by and not self.topology:
            raise ValueError("a rule needs correlate_by labels, topology: true, or both")
        return self

    def to_rule(self) -> CorrelationRule:
        return CorrelationRule(
            self.name,
            tuple(self.correlate_by),
            self.window,
            self.max_age,
            self.min_alerts,
            tuple(self.matchers),
            self.topology,
        )


class TopologyConfig(_Model):
    label: str = "service"
    neighbours: dict[str, list[str]] = {}
    edges: list[tuple[str, str]] = []
    file: str | None = None
    topic: bool = Field(default=True, description="tenants' own graphs from `topology`")
    graph: dict[str, frozenset[str]] = Field(default_factory=dict, exclude=True)

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        if not is_valid_label_name(v):
            raise ValueError(f'"{v}" is not a valid label name')
        return v

    @model_validator(mode="after")
    def _graph(self) -> TopologyConfig:
        pairs = [(a, b) for a, near in self.neighbours.items() for b in near] + list(self.edges)
        graph = undirected(pairs)
        if self.file:
            try:
                text = Path(self.file).read_text()
                data = json.loads(text) if self.file.endswith(".json") else yaml.safe_load(text)
                extra = parse_graph(data)
            except (OSError, ValueError, yaml.YAMLError, TopologyError) as exc:
                raise ValueError(f"file {self.file}: {exc}") from None
            graph = undirected(
                [(a, b) for g in (graph, extra) for a, near in g.items() for b in near]
            )
        self.graph = graph
        return self

    def build(self) -> Topology:
        return Topology(self.label, self.graph)


class LearnedConfig(_Model):
    """Links between alert kinds learned online (``models/correlation/learner.py``)."""

    enabled: bool = True
    min_score: float = Field(default=0.5, ge=0.0)
    window: Duration = 60.0  # of the learned links, and of the join on them
    max_age: Duration = 300.0  # of an incident learned links join to (they chain)
    min_alerts: int = Field(default=2, ge=1)
    max_hops: int = Field(default=1, ge=0, description="incident radius in topology links")
    source_labels: list[str] = ["device", "instance", "host", "node", "pod", "service"]

    def to_join(self) -> LearnedJoin:
        return LearnedJoin(
            self.min_score, self.window, self.max_age, self.min_alerts, max_hops=self.max_hops
        )


class CorrelationConfig(_Model):
    rules: list[CorrelationRuleConfig] = []
    topology: TopologyConfig | None = None
    learned: LearnedConfig = LearnedConfig()
    kind_label: str = "alertname"
    min_alerts: int = Field(default=2, ge=1, description="for alerts no rule applies to")
    retention: Duration = 24 * 3600.0

    @field_validator("rules")
    @classmethod
    def _unique(cls, v: list[CorrelationRuleConfig]) -> list[CorrelationRuleConfig]:
        names = [r.name for r in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate rule name {', '.join(dupes)}")
        return v

    @model_validator(mode="after")
    def _topology_needed(self) -> CorrelationConfig:
        needs = [r.name for r in self.rules if r.topology]
        if needs and self.topology is None:
            raise ValueError(f"rules {', '.join(needs)} use topology, but no topology: is set")
        return self

    def build(self) -> Correlator:
        """A correlator with a learner per tenant (when learned links are on)."""
        topology = self.topology.build() if self.topology is not None else None
        return Correlator(
            [r.to_rule() for r in self.rules],
            topology=topology,
            learned=self.learned.to_join() if self.learned.enabled else None,
            learner_type=CausalLearner if self.learned.enabled else None,
            kind_label=self.kind_label,
            source_labels=tuple(self.learned.source_labels),
            default_min_alerts=self.min_alerts,
        )


def check_notify_by(route: RouteConfig, correlation: CorrelationConfig | None) -> list[str]:
    """``notify_by: incident`` needs a ``correlation:`` section to make incidents."""
    if correlation is not None:
        return []
    todo, found = [route], []
    while todo:
        r = todo.pop()
        if r.notify_by == "incident":
            found.append(r.receiver or "(inherited receiver)")
        todo.extend(r.routes)
    if found:
        return [f"route: notify_by: incident needs a correlation: section (routes to {found[0]})"]
    return []
