"""Incidents on the alert path: the correlator as a stage the runtime owns.

``AlertRuntime.ingest`` hands every batch's changed alerts to ``IncidentStage.observe``
before it routes them, on the same partition and inside the same batch: the incident
an alert joins is known when a ``notify_by: incident`` route groups it, and the
membership is staged in the ``incidents`` table with the batch's other writes, so the
checkpoint that covers the input covers the membership (kill -9 loses none).  Per
alert this costs the correlator's lookups and one member record; an incident's header
and its event on the ``incidents`` topic are written once per batch, however many
alerts joined it.

Table keys (partition = the tenant's): ``i/<incident>`` header, ``m/<incident>/<fp>``
member, ``t/<tenant>`` the tenant's topology from the ``topology`` topic, ``l/<tenant>``
its learner (checkpointed every ``LEARNER_EVERY`` seconds; learning since then is lost
by a kill -9, never membership).

Commands (on `commands`, applied on the tenant's partition)::

    {"op": "incident.ack" | "incident.resolve", "tenant", "incident", "user"}
    {"op": "incident.merge", "tenant", "incident", "sources": [ids], "user"}
    {"op": "incident.split", "tenant", "incident", "fingerprints": [fps], "user"}
    {"op": "correlation.confirm" | "correlation.veto", "tenant", "cause", "effect", "user"}
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import faust
import orjson

from agents.commands import CommandError, Commands
from agents.dlq import dead_letters, raw_reject
from app.config.correlation import CorrelationConfig
from models.alerting.alert import FIRING, Alert
from models.correlation.correlator import Correlator
from models.correlation.incident import Incident, Member
from models.correlation.topology import TopologyError, graph_to_wire, parse_graph
from tables.store import PartitionStore

if TYPE_CHECKING:
    from agents.runtime import AlertRuntime

log = logging.getLogger(__name__)

LEARNER_EVERY = 30.0  # seconds between learner checkpoints


class IncidentStage:
    """The correlator, its table and its topic, for the partitions this worker owns."""

    def __init__(
        self, config: CorrelationConfig, store: PartitionStore, produce: Callable, topic: str
    ) -> None:
        self.config = config
        self.correlator: Correlator = config.build()
        self.store = store
        self._produce = produce  # Checkpoint.produce: acknowledged with the batch
        self.topic = topic
        self.partition_of: dict[str, int] = {}  # tenant -> partition
        self._learned_at: dict[str, int] = {}  # tenant -> alerts learned at its checkpoint
        # an acknowledged incident's notification groups stop repeating (``register``)
        self.on_ack: Callable[[str, str, float], None] | None = None
        self._checkpointed = 0.0

    # --- the alert path -----------------------------------------------------------------
    def observe(self, partition: int, changed: Iterable[Alert], now: float) -> None:
        """Assign each changed alert (in the runtime's batch) and stage the writes."""
        learn = self.correlator.learn_one
        for a in changed:
            t = (a.starts_at or now) if a.status == FIRING else (a.ends_at or now)
            self.partition_of[a.tenant] = partition
            learn(a, partition, t)
        self.persist()

    def persist(self) -> None:
        """Stage what changed in the table, and one event per touched incident."""
        changes = self.correlator.drain()
        put, delete = self.store.put, self.store.delete
        for inc in changes.incidents:
            put(inc.partition, f"i/{inc.id}", inc.header())
        for inc, m in changes.members:
            put(inc.partition, f"m/{inc.id}/{m.fingerprint}", m.to_wire())
        for partition, iid, fp in changes.gone_members:
            delete(partition, f"m/{iid}/{fp}")
        for iid, partition in changes.gone.items():
            delete(partition, f"i/{iid}")
        by_tenant: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for inc, what in changes.events:
            if inc.visible or what in ("merged", "split"):
                by_tenant[inc.tenant].append({"event": what, **inc.to_wire(members=False)})
        for tenant, items in by_tenant.items():
            self._produce(self.topic, tenant.encode(), items)

    def tick(self, now: float) -> None:
        """On the flush timer: forget old incidents, checkpoint the learners."""
        self.correlator.gc(now, self.config.retention)
        if now - self._checkpointed >= LEARNER_EVERY:
            self._checkpointed = now
            for tenant, learner in self.correlator.learners.items():
                partition = self.partition_of.get(tenant)
                if partition is not None and self._learned_at.get(tenant) != learner.learned:
                    self._learned_at[tenant] = learner.learned
                    self.store.put(partition, f"l/{tenant}", learner.to_state())
        self.persist()

    # --- partitions -----------------------------------------------------------------------
    def load(self, partition: int) -> None:
        """Rebuild one partition's incidents, topologies and learners from RocksDB (before
        the runtime routes the partition's alerts again, so notify_by finds them)."""
        incidents: dict[str, Incident] = {}
        members: list[tuple[str, Member]] = []
        c = self.correlator
        for key, value in self.store.items(partition):
            kind, _, rest = key.partition("/")
            if kind == "i":
                incidents[rest] = Incident.from_header(value)
            elif kind == "m":
                members.append((rest.split("/", 1)[0], Member.from_wire(value)))
            elif kind == "t":
                c.set_topology(rest, parse_graph(value))
                self.partition_of[rest] = partition
            elif kind == "l":
                c.restore_learner(rest, value)
                self.partition_of[rest] = partition
        members.sort(key=lambda im: im[1].joined_at)  # in the order they joined
        for iid, m in members:
            inc = incidents.get(iid)
            if inc is not None:
                inc.restore(m)
        for inc in incidents.values():
            self.partition_of[inc.tenant] = partition
        c.load(incidents.values())
        log.info("partition %d: %d incidents restored", partition, len(incidents))

    def forget(self, partition: int) -> None:
        self.correlator.forget_partition(partition)
        for tenant in [t for t, p in self.partition_of.items() if p == partition]:
            del self.partition_of[tenant]
            self.correlator.learners.pop(tenant, None)

    # --- topology records -------------------------------------------------------------------
    def set_topology(self, partition: int, tenant: str, raw: bytes | None) -> None:
        """A record of the compacted `topology` topic: the tenant's whole graph (an empty
        value goes back to the configured one). Raises TopologyError if unreadable."""
        if raw:
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise TopologyError(f"topology: invalid JSON: {exc}") from None
            graph = parse_graph(data)
            self.store.put(partition, f"t/{tenant}", graph_to_wire(graph))
        else:
            graph = None
            self.store.delete(partition, f"t/{tenant}")
        self.partition_of[tenant] = partition
        self.correlator.set_topology(tenant, graph)

    # --- reads ------------------------------------------------------------------------------
    def list(self, tenant: str, pending: bool = False) -> list[dict[str, Any]]:
        """The tenant's incidents, newest first (candidates only with ``pending``)."""
        found = [
            i
            for i in self.correlator.incidents.values()
            if i.tenant == tenant and (pending or i.visible) and (i.members or i.visible)
        ]
        found.sort(key=lambda i: (-i.started_at, i.id))
        return [i.to_wire(members=False) for i in found]

    def get(self, tenant: str, incident: str) -> dict[str, Any] | None:
        inc = self.correlator.incidents.get(incident)
        return inc.to_wire() if inc is not None and inc.tenant == tenant else None

    def graph(self, tenant: str) -> dict[str, Any]:
        learner = self.correlator.learner(tenant)
        if learner is None:
            return {"edges": [], "vetoed": [], "confirmed": []}
        return {
            "edges": [list(e) for e in learner.edges()],
            "vetoed": sorted(list(e) for e in learner.vetoed),
            "confirmed": sorted(list(e) for e in learner.confirmed),
        }

    # --- commands ---------------------------------------------------------------------------
    def handlers(self) -> dict[str, Callable[[int, dict[str, Any], float], Awaitable[None]]]:
        """Handlers for the commands agent (``agents/commands.py``), by op."""
        return {
            "incident.ack": self._ack,
            "incident.resolve": self._resolve,
            "incident.merge": self._merge,
            "incident.split": self._split,
            "correlation.confirm": self._review,
            "correlation.veto": self._review,
        }

    def _target(self, cmd: dict[str, Any]) -> tuple[str, str, str]:
        tenant, incident = cmd.get("tenant"), cmd.get("incident")
        if not isinstance(tenant, str) or not tenant:
            raise CommandError("tenant: required")
        if not isinstance(incident, str) or not incident:
            raise CommandError("incident: required")
        inc = self.correlator.incidents.get(incident)
        if inc is None or inc.tenant != tenant:
            raise CommandError(f"incident {incident} not found for tenant {tenant}")
        return tenant, incident, str(cmd.get("user") or "")

    async def _ack(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        tenant, incident, user = self._target(cmd)
        self.correlator.acknowledge(incident, user)
        self.persist()
        if self.on_ack is not None:
            self.on_ack(tenant, incident, now)

    async def _resolve(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        _, incident, user = self._target(cmd)
        self.correlator.resolve(incident, now, user)
        self.persist()

    async def _merge(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        tenant, incident, _ = self._target(cmd)
        sources = cmd.get("sources")
        if not isinstance(sources, list) or not sources:
            raise CommandError("sources: a non-empty list of incident ids required")
        for s in sources:
            self._target({"tenant": tenant, "incident": s})
        self.correlator.merge(incident, [str(s) for s in sources])
        self.persist()

    async def _split(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        _, incident, _ = self._target(cmd)
        fps = cmd.get("fingerprints")
        if not isinstance(fps, list) or not all(isinstance(f, str) for f in fps):
            raise CommandError("fingerprints: a list of alert fingerprints required")
        try:
            self.correlator.split(incident, fps, now)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.persist()

    async def _review(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        tenant, cause, effect = cmd.get("tenant"), cmd.get("cause"), cmd.get("effect")
        if not all(isinstance(v, str) and v for v in (tenant, cause, effect)):
            raise CommandError("tenant, cause and effect: required")
        learner = self.correlator.learner(str(tenant))
        if learner is None:
            raise CommandError("correlation.learned is off: there is no learned graph")
        if cmd["op"] == "correlation.veto":
            learner.veto(str(cause), str(effect))
        else:
            learner.confirm(str(cause), str(effect))
        self.partition_of.setdefault(str(tenant), partition)
        self.store.put(partition, f"l/{tenant}", learner.to_state())


def register(
    app: faust.App,
    runtime: AlertRuntime,
    store: PartitionStore,
    incidents_topic: faust.TopicT,
    topology_topic: faust.TopicT,
    commands: Commands,
) -> IncidentStage | None:
    """Attach the incident stage to the runtime when pipelines.yaml has ``correlation:``,
    and consume the `topology` topic. Returns the stage (None when correlation is off)."""
    config = runtime.config.correlation
    if config is None:
        return None
    stage = IncidentStage(
        config, store, runtime.stores.checkpoint.produce, incidents_topic.get_topic_name()
    )
    runtime.attach_incidents(stage)
    commands.handlers.update(stage.handlers())

    def ack_groups(tenant: str, incident: str, now: float) -> None:
        """The incident's notify_by: incident groups, acknowledged as an ack of the group
        would be (``ack_default_duration``)."""
        until = now + runtime.config.ack_default_duration
        for g in list(runtime.dispatcher.groups.values()):
            if g.tenant == tenant and g.labels.get("incident") == incident:
                runtime.nflog.acknowledge(tenant, g.key, until)
        runtime.persist_dispatch()

    stage.on_ack = ack_groups

    @app.agent(topology_topic, name="agents.incidents.topology")
    async def topology(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            partition = event.message.partition
            runtime.ensure(partition)
            tenant = event.key.decode() if event.key else ""
            try:
                if not tenant:
                    raise TopologyError("topology: the record's key must be the tenant")
                stage.set_topology(partition, tenant, event.value)
            except TopologyError as exc:
                await dead_letters("topology", event.key, [raw_reject(event.value, str(exc))])
            runtime.stores.checkpoint.commit_batch()

    @app.timer(5.0, name="agents.incidents.tick")
    async def tick() -> None:
        if runtime.ready():
            stage.tick(time.time())
            runtime.stores.checkpoint.commit_batch()

    return stage
