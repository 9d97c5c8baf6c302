"""Escalation chains with durable timers: the owner of every chain of the partitions
this worker's alert runtime owns.

A chain starts when a group on a route with ``escalation: NAME`` is flushed with firing
alerts (``observe``, called by the runtime after each flush), and ends when the group
has no firing alert left or a resolve command arrives. Its state (the pure
``models/escalation/policy.Chain``) is one entry of the ``escalations`` table, in the
partition of its tenant, with the next step's due time; the tick (every
``ALERTSTREAM_ESCALATION_TICK`` s, 1 by default) fires what is due.

Crash safety: a tick computes the pages, hands them to Kafka and waits until the
broker has them, and only then writes the advanced chain (and the round-robin
cursors). A ``kill -9`` in between finds the old chain on restart, computes the same
pages (who is paged depends only on the stored state and the step's due time) with the
same notification ids, and the senders' ``delivered`` table drops what was already
delivered: no step is lost, none is delivered twice.

Commands (``agents/commands.py`` calls ``on_command`` after its own handling):
``ack`` and ``resolve`` apply to the chain too, ``reassign`` and ``snooze`` are handled
here. Every action lands on the ``history`` topic (kind ``escalation``) with who and why.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import faust

from agents.commands import CommandError, Commands
from agents.runtime import AlertRuntime
from app.config.escalation import USER_RECEIVER, route_policies
from app.config.schema import PipelinesConfig
from app.faust_app import history_topic, notification_topics
from channels.templating import TemplateRenderError, render_string
from models.alerting.alert import FIRING
from models.escalation.policy import (
    ACKNOWLEDGED,
    NOTIFY,
    REASSIGN,
    Action,
    Chain,
    Event,
    Policy,
    step,
)
from models.escalation.targets import LEAST_LOADED, ROUND_ROBIN, candidates, pick
from models.escalation.tokens import link_claims, sign
from models.notify.notification import Notification, encode_bounded
from models.notify.stages import GroupFlush
from models.suppression.timeintervals import is_active
from tables.store import PartitionStore

log = logging.getLogger(__name__)

PAGED = "paged"  # audit action: who a page went to
AUDIT_KEEP = 30  # actions kept per chain for GET /api/v1/groups/{key}/escalation
LINK_TTL = 24 * 3600.0  # how long an action link in a page works


class DirectoryRoster:
    """``Roster`` over the on-call directory (``models/oncall``): a schedule's on-call
    users at an instant, a team's members, a user's skills."""

    def __init__(self, directory: Any) -> None:
        self.directory = directory

    def members(self, kind: str, name: str, at: float) -> list[str]:
        if kind == "schedule":
            return list(self.directory.schedule(name).on_call(datetime.fromtimestamp(at, UTC)))
        return list(self.directory.team(name).members)

    def skills(self, user: str) -> frozenset[str]:
        try:
            return frozenset(self.directory.user(user).skills)
        except KeyError:
            return frozenset()

    def working(self, user: str, at: float) -> bool:
        try:
            return bool(self.directory.user(user).working(datetime.fromtimestamp(at, UTC)))
        except KeyError:
            return True


class Plan:
    """What one config says about escalation: its policies, which route escalates by
    which policy, its time intervals and receivers."""

    def __init__(self, config: PipelinesConfig) -> None:
        self.config = config
        self.policies = {p.name: p.build() for p in config.escalation_policies}
        self.route_policy = route_policies(config.route)
        self.intervals = {t.name: t.build() for t in config.time_intervals}
        self.receivers = {r.name for r in config.receivers}
        oncall = config.oncall
        people = oncall.users or oncall.teams or oncall.schedules
        self.roster = DirectoryRoster(oncall.directory) if people else None

    def in_interval(self, names: Sequence[str], at: float) -> bool:
        return is_active(names, self.intervals, at)


class Escalations:
    def __init__(
        self,
        runtime: AlertRuntime,
        store: PartitionStore,
        *,
        external_url: str = "",
        link_key: bytes = b"",
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.external_url = external_url.rstrip("/")
        self.link_key = link_key
        self._plans: dict[int, Plan] = {}  # id(config) -> what it says about escalation
        self.chains: dict[str, tuple[int, Chain]] = {}  # "tenant/group key" -> chain
        self.audit: dict[str, list[dict[str, Any]]] = {}  # same key -> recent actions
        self.cursors: dict[str, int] = {}  # "rr/tenant/policy/step" -> round-robin cursor
        # told of each chain's actions (tenant, history items): the audit log
        self.on_actions: list[Callable[[str, list[dict[str, Any]]], None]] = []
        self._dirty: dict[str, int] = {}  # cursors moved -> their partition
        self.loaded: set[int] = set()

    # --- partitions ---------------------------------------------------------------------
    def sync(self) -> None:
        """Follow the runtime's partitions: load chains of new ones, drop revoked ones."""
        owned = set(self.runtime.loaded)
        for p in self.loaded - owned:
            for key in [k for k, (part, _) in self.chains.items() if part == p]:
                del self.chains[key]
                self.audit.pop(key, None)
        for p in owned - self.loaded:
            for key, value in self.store.items(p):
                kind, _, rest = key.partition("/")
                if kind == "chain":
                    self.chains[rest] = (p, Chain.from_wire(value["chain"]))
                    self.audit[rest] = value.get("audit", [])
                elif kind == "rr":
                    self.cursors[key] = int(value)
            log.info("partition %d: %d escalation chains restored", p, len(self.chains))
        self.loaded = owned

    # --- starting and ending chains -----------------------------------------------------
    def plan(self, tenant: str) -> Plan:
        """The escalation part of the config that applies to ``tenant``."""
        config = self.runtime.config_for(tenant)
        found = self._plans.get(id(config))
        if found is None or found.config is not config:
            found = self._plans[id(config)] = Plan(config)
        return found

    def policy(self, chain: Chain) -> Policy | None:
        return self.plan(chain.tenant).policies.get(chain.policy)

    def observe(self, flushes: Sequence[GroupFlush], now: float) -> None:
        """After a flush: start a chain for each escalating group notified firing that has
        none, end the chain of each group with no firing alert left."""
        self.sync()  # chains restored before a restored group can look unescalated
        for f in flushes:
            g = f.group
            plan = self.plan(g.tenant)
            name = plan.route_policy.get(f.route.id)
            if name is None:
                continue
            ckey = f"{g.tenant}/{g.key}"
            firing = f.shown and bool(f.firing)
            found = self.chains.get(ckey)
            if firing and found is None:
                chain = Chain.start(g.tenant, g.key, plan.policies[name], now)
                self.chains[ckey] = (g.partition, chain)
                self._record(g.partition, chain, [Action("started", now, why=f"policy {name}")])
            elif found is not None and not any(a.status == FIRING for a in g.members.values()):
                self._apply(found[0], found[1], Event("resolve", now, why="every alert resolved"))

    # --- the timer ----------------------------------------------------------------------
    async def tick(self, now: float) -> int:
        """Fire what is due; returns how many pages went out."""
        self.sync()
        pages: list[Notification] = []
        touched: list[tuple[int, Chain, list[Action]]] = []
        groups = self.runtime.dispatcher.groups_with_key
        for partition, chain in list(self.chains.values()):
            if not groups(chain.tenant, chain.group_key):  # deleted while nobody watched
                self._apply(partition, chain, Event("resolve", now, why="the group is gone"))
                continue
            policy = self.policy(chain)
            if policy is None or not self._wants_tick(chain, policy, now):
                continue
            actions = step(chain, policy, Event("tick", now), self.plan(chain.tenant).in_interval)
            found, paged = self._pages(partition, chain, policy, actions)
            pages += found
            touched.append((partition, chain, actions + paged))
        if pages:
            self._produce(pages)
            await self.runtime.stores.checkpoint.delivered()
        for partition, chain, actions in touched:
            self._record(partition, chain, actions)
        self.runtime.stores.checkpoint.commit_batch()
        return len(pages)

    @staticmethod
    def _wants_tick(chain: Chain, policy: Policy, now: float) -> bool:
        """Something is due: a step, or an SLA not yet recorded as breached."""
        if chain.due is not None and chain.due <= now:
            return True
        slas = [("resolve", policy.resolve_within)]
        if chain.status != ACKNOWLEDGED:
            slas.append(("acknowledge", policy.ack_within))
        return any(
            within is not None and sla not in chain.breached and now >= chain.started + within
            for sla, within in slas
        )

    # --- commands -----------------------------------------------------------------------
    async def after_command(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        """An ack or resolve the commands agent applied: the group's chain too."""
        op = cmd.get("op") or cmd.get("action")
        if op in ("ack", "resolve"):
            await self._command(cmd, now, required=False)

    async def command(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        """``reassign`` (``to``: a user or receiver) and ``snooze`` (``until`` or
        ``duration``) of a group's chain; a group without one is an error."""
        await self._command(cmd, now, required=True)

    async def _command(self, cmd: dict[str, Any], now: float, *, required: bool) -> None:
        self.sync()
        op = str(cmd.get("op") or cmd.get("action"))
        tenant = str(cmd.get("tenant") or "")
        keys = self._keys(tenant, cmd)
        found = [self.chains[k] for k in (f"{tenant}/{key}" for key in keys) if k in self.chains]
        if required and not found:
            raise CommandError(f"{op}: no escalation for group {keys or cmd.get('fingerprint')!r}")
        if op == "reassign" and not cmd.get("to"):
            raise CommandError("reassign: to is required")
        try:
            until = cmd.get("until")
            if op == "snooze" and until is None:
                until = now + float(cmd.get("duration") or 3600.0)
            until = float(until) if until is not None else None
        except (TypeError, ValueError):
            raise CommandError(f"{op}: until / duration must be numbers") from None
        who, why = str(cmd.get("user") or ""), str(cmd.get("why") or cmd.get("source") or "")
        to, cid = str(cmd.get("to") or ""), str(cmd.get("id") or "")
        event = Event(op, now, who=who, to=to, until=until, why=why, id=cid)
        for partition, chain in found:
            await self._apply_now(partition, chain, event)

    def _keys(self, tenant: str, cmd: dict[str, Any]) -> list[str]:
        if cmd.get("group_key"):
            return [str(cmd["group_key"])]
        fp = str(cmd.get("fingerprint") or "")
        return [g.key for g in self.runtime.dispatcher.groups_of(fp) if g.tenant == tenant]

    async def _apply_now(self, partition: int, chain: Chain, event: Event) -> None:
        policy = self.policy(chain)
        if policy is None:
            return
        actions = step(chain, policy, event, self.plan(chain.tenant).in_interval)
        pages, paged = self._pages(partition, chain, policy, actions)
        if pages:
            self._produce(pages)
            await self.runtime.stores.checkpoint.delivered()
        self._record(partition, chain, actions + paged)

    def _apply(self, partition: int, chain: Chain, event: Event) -> None:
        """An event that pages nobody (a resolve)."""
        policy = self.policy(chain)
        if policy is not None:
            actions = step(chain, policy, event, self.plan(chain.tenant).in_interval)
            self._record(partition, chain, actions)

    # --- pages --------------------------------------------------------------------------
    def _pages(
        self, partition: int, chain: Chain, policy: Policy, actions: Iterable[Action]
    ) -> tuple[list[Notification], list[Action]]:
        """The notifications of the actions that page, and one ``paged`` audit action
        each naming who was paged."""
        out: list[Notification] = []
        paged: list[Action] = []
        for a in actions:
            if a.kind not in (NOTIFY, REASSIGN) or a.target is None:
                continue
            receivers, why = self._recipients(partition, chain, policy, a)
            for receiver in receivers:
                out += self._notifications(chain, a, receiver)
            who = ", ".join(receivers) or "nobody"
            paged.append(Action(PAGED, a.at, a.step, a.attempt, key=a.key, why=f"{who} {why}"))
        return out, paged

    def _recipients(
        self, partition: int, chain: Chain, policy: Policy, a: Action
    ) -> tuple[list[str], str]:
        """The receivers a page goes to, and why it is not everyone asked for. Names the
        config no longer has (a tenant's config changed since) page nobody, said so."""
        target = a.target
        assert target is not None
        plan = self.plan(chain.tenant)
        skills = [self._render(s, self._labels(chain)) for s in target.skills]
        ckey = f"rr/{chain.tenant}/{policy.name}/{a.step}"
        load = self._load() if target.pick == LEAST_LOADED else None
        try:
            found = candidates(target, plan.roster, a.at)
        except (KeyError, ValueError) as exc:  # a schedule or team no longer defined
            return [], f"({exc})"
        choice = pick(
            target,
            found,
            cursor=self.cursors.get(ckey, 0),
            load=load,
            skills=skills,
            roster=plan.roster,
            at=a.at,
        )
        if target.pick in (ROUND_ROBIN, LEAST_LOADED) and a.kind == NOTIFY:
            self.cursors[ckey] = choice.cursor
            self._dirty[ckey] = partition
        if choice.kind == "receivers" or (a.kind == REASSIGN and target.names[0] in plan.receivers):
            names = list(choice.names)
        else:
            names = [USER_RECEIVER.format(user) for user in choice.names]
        receivers = [n for n in names if n in plan.receivers]
        missing = [n for n in names if n not in plan.receivers]
        why = choice.why + (f"; no receiver or contact methods for {missing}" if missing else "")
        return receivers, f"({why.strip('; ')})" if why.strip("; ") else ""

    def _load(self) -> dict[str, int]:
        """Open acknowledged chains per person (their acker or assignee)."""
        out: defaultdict[str, int] = defaultdict(int)
        for _, chain in self.chains.values():
            if chain.status == ACKNOWLEDGED:
                out[chain.assignee or chain.acked_by] += 1
        return out

    def _labels(self, chain: Chain) -> dict[str, str]:
        groups = self.runtime.dispatcher.groups_with_key(chain.tenant, chain.group_key)
        labels: dict[str, str] = {}
        for g in groups:
            for alert in g.members.values():
                labels = {**alert.labels, **labels}
        return labels

    @staticmethod
    def _render(source: str, labels: dict[str, str]) -> str:
        try:
            return render_string(source, {"Labels": labels, "labels": labels})
        except TemplateRenderError:
            return ""

    def _notifications(self, chain: Chain, a: Action, receiver: str) -> list[Notification]:
        groups = self.runtime.dispatcher.groups_with_key(chain.tenant, chain.group_key)
        members: dict[str, Any] = {}
        for g in groups:
            members.update(g.members)
        alerts = [members[fp].rendered or members[fp].webhook_json(a.at) for fp in sorted(members)]
        labels = dict(groups[0].labels) if groups else {}
        info = {
            "key": a.key,
            "policy": chain.policy,
            "step": a.step,
            "attempt": a.attempt,
            "due": a.at,
            "links": self._links(chain, receiver),
        }
        out = []
        for integration in self.runtime.integrations(chain.tenant, receiver):
            digest = hashlib.sha256(
                f"esc|{chain.tenant}|{chain.started!r}|{a.key}|{receiver}|"
                f"{integration.channel}|{integration.index}".encode()
            )
            out.append(
                Notification(
                    id=digest.hexdigest()[:32],
                    tenant=chain.tenant,
                    receiver=receiver,
                    channel=integration.channel,
                    integration=integration.index,
                    group_key=chain.group_key,
                    group_labels=labels,
                    alerts=alerts,
                    reason="escalation",
                    external_url=self.external_url,
                    created_at=a.at,
                    extra={"escalation": info},
                )
            )
        return out

    def _links(self, chain: Chain, receiver: str) -> dict[str, str]:
        """Signed, expiring ack / resolve links for the page (none without a key)."""
        if not self.link_key or not self.external_url:
            return {}
        expires = time.time() + LINK_TTL
        user = receiver.removeprefix("user:")
        return {
            op: f"{self.external_url}/api/v1/actions/"
            + sign(self.link_key, link_claims(op, chain.tenant, chain.group_key, user, expires))
            for op in ("ack", "resolve")
        }

    def _produce(self, pages: list[Notification]) -> None:
        by_topic: defaultdict[tuple[str, str], list[bytes]] = defaultdict(list)
        for n in pages:
            by_topic[(n.channel, n.tenant)].append(encode_bounded(n))
            log.info("escalation page %s %s -> %s", n.id, n.extra["escalation"]["key"], n.receiver)
        produce = self.runtime.stores.checkpoint.produce_encoded
        for (channel, tenant), encoded in by_topic.items():
            produce(notification_topics[channel].get_topic_name(), tenant.encode(), encoded, True)

    # --- persistence and audit ------------------------------------------------------------
    def _record(self, partition: int, chain: Chain, actions: list[Action]) -> None:
        """Persist the chain (or delete it once resolved) and the cursors it moved, and
        put its actions on the `history` topic."""
        ckey = f"{chain.tenant}/{chain.group_key}"
        events = [a.audit() for a in actions]
        trail = (self.audit.get(ckey, []) + events)[-AUDIT_KEEP:]
        if chain.open:
            self.audit[ckey] = trail
            self.store.put(partition, f"chain/{ckey}", {"chain": chain.to_wire(), "audit": trail})
        else:
            self.chains.pop(ckey, None)
            self.audit.pop(ckey, None)
            self.store.delete(partition, f"chain/{ckey}")
        for key, where in self._dirty.items():
            self.store.put(where, key, self.cursors[key])
        self._dirty.clear()
        if events:
            items = [
                {
                    "kind": "escalation",
                    "tenant": chain.tenant,
                    "group_key": chain.group_key,
                    "policy": chain.policy,
                    **e,
                }
                for e in events
            ]
            topic = history_topic.get_topic_name()
            self.runtime.stores.checkpoint.produce(topic, chain.tenant.encode(), items)
            for tell in self.on_actions:
                tell(chain.tenant, items)

    # --- reads ----------------------------------------------------------------------------
    def state(self, tenant: str, group_key: str) -> dict[str, Any] | None:
        found = self.chains.get(f"{tenant}/{group_key}")
        if found is None:
            return None
        chain = found[1]
        policy = self.policy(chain)
        return {
            **chain.to_wire(),
            "steps": len(policy.steps) if policy else 0,
            "positions": policy.positions if policy else 0,
            "actions": self.audit.get(f"{tenant}/{group_key}", []),
        }


def register(app: faust.App, escalations: Escalations, commands: Commands, every: float) -> None:
    """The tick, the runtime's flushes and the commands, all into ``escalations``."""
    escalations.runtime.observers.append(escalations.observe)
    commands.handlers["reassign"] = commands.handlers["snooze"] = escalations.command
    commands.observers.append(escalations.after_command)

    @app.timer(every, name="agents.escalation.tick")
    async def tick() -> None:
        if escalations.runtime.ready():
            await escalations.tick(time.time())
