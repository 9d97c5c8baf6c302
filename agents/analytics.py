"""The analytics agent: windows of what the alert path did, from its own record.

Reads the ``history`` topic (alerts firing and resolved, notifications, escalation
actions, and the acks and other actions this module adds from the commands it sees
applied) and ``notifications.receipts`` (delivery verdicts), both keyed by tenant, and
keeps per tenant, hour and day, and dimension (rule, severity, team, receiver, route,
escalation policy) the counts and duration sketches of ``models/analytics``, plus each
alert's episode for SLA reports and recommendations.

Durability: an input record's effect is staged in the ``analytics`` table with a
journal entry of the values it overwrites, and written by one commit with the next
offset this agent expects from that input partition (partition p of the one table), so
one local RocksDB WriteBatch holds them. Counting is not idempotent, and the changelog
replayed at recovery can set some of those keys back and not others; so a partition
taken starts by undoing its recent records from the journal and reading them again
(``Analytics.recover``). Records the consumer skipped are read back
(``agents/continuity.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import faust

from agents.commands import Commands
from agents.continuity import OffsetGuard, Record
from agents.dlq import dead_letters, raw_reject
from agents.partitions import OwnedPartitions
from app.config.analytics import TenantSpecs
from app.faust_app import history_topic
from models.analytics import query, recommend, sla
from models.analytics.actions import Members, action_event
from models.analytics.recommend import Thresholds
from models.analytics.tracker import Batch, episodes
from models.analytics.windows import DAY
from models.wire import WireError, decode_batch
from tables.store import Checkpoint, PartitionStore

log = logging.getLogger(__name__)

HISTORY, RECEIPTS = "history", "receipts"
JOURNAL = "j/"  # + a number growing with time: the values one input record overwrote
JOURNAL_KEPT = 30.0  # seconds an entry is kept: the changelog is checkpointed every few


def _journal_key(number: int) -> str:
    return f"{JOURNAL}{number:020d}"


RECOMMEND_DAYS = 30
Learned = Callable[[str, float], tuple[list[dict[str, Any]], list[dict[str, Any]]]]
"""(tenant, now) -> its static threshold rules and the bands learned for its series
(``recommend.learned_band``)"""
GC_EVERY = 600.0
Rejects = list[tuple[bytes | None, list[tuple[Any, str]]]]  # (key, items refused, with why)


class Analytics:
    """The analytics state of the partitions this worker owns: one owner, built from
    the config by ``app/api_analytics.start`` and read by its views."""

    def __init__(
        self,
        specs: TenantSpecs,
        thresholds: Thresholds,
        store: PartitionStore,
        checkpoint: Checkpoint,
        app: faust.App,
        learned: Learned = lambda tenant, now: ([], []),
    ) -> None:
        self.specs = specs  # each tenant's SLA targets and business hours
        self.thresholds = thresholds
        self.store = store
        self.checkpoint = checkpoint
        self.app = app
        self.learned = learned
        self.incident_members: Members = lambda tenant, incident: []  # set by register
        self.last_journal: dict[int, int] = {}  # partition -> its newest journal's number
        # partition -> input topic -> the offsets [start, end) ``recover`` undid: the
        # agent reads them again at once (``register``), every input, not only the one
        # whose record arrived
        self.unread: dict[int, dict[str, tuple[int, int]]] = {}

    # --- writes ---------------------------------------------------------------------------
    def apply(
        self,
        partition: int,
        kind: str,
        record: tuple[str, int],
        tenant: str,
        items: list[Any],
        at: float,
    ) -> list[tuple[Any, str]]:
        """Stage one record's effect (``record``: its topic and offset) after a journal
        entry holding the values it overwrites (``recover``); returns the items not
        understood, with why."""
        batch = Batch(lambda key: self.store.get(partition, key), self.specs.spec_for(tenant))
        bad: list[tuple[Any, str]] = []
        for item in items:
            try:
                if kind == HISTORY:
                    batch.history(tenant, item)
                else:
                    batch.receipt(tenant, item, at)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                bad.append((item, f"analytics: unreadable {kind} event ({exc!r})"))
        writes = batch.writes()
        number = max(self.last_journal.get(partition, 0) + 1, time.time_ns())
        self.store.put(
            partition,
            _journal_key(number),
            {
                "topic": record[0],
                "offset": record[1],
                "at": time.time(),
                "after": self.last_journal.get(partition),  # the entry before: a chain
                "prev": {k: self.store.get(partition, k) for k in writes},
            },
        )
        self.last_journal[partition] = number
        self._stage(partition, writes)
        return bad

    def recover(self, partition: int) -> int:
        """Undo the journal's recent records and have them read again; returns how many.

        Recovery replays the changelog written since the last checkpoint over the local
        RocksDB, and a kill -9 cuts that changelog anywhere: a key written since goes
        back to the last value that was sent, or keeps its newest where none of its
        records was sent, the next offsets expected included. So no key written in that
        time can be trusted, but journal entries can: each is a key of its own, never
        set back. When a partition is taken (at start, after a rebalance), the unbroken
        chain of recent entries (``JOURNAL_KEPT``; checkpoints come every few seconds)
        is undone, newest first, and each input's next expected offset is set back to
        its first record in the chain: those records are read again, in order, over the
        state from before them. Which ones, per input, is left in ``unread``: they must
        be read back at once and not when that input's next record comes, which may be
        never (the other input's record took the partition, or the input was
        committed to its end before the kill: issue 9, the counts stayed short)."""
        entries = dict(self.store.scan(partition, JOURNAL))
        chain: list[dict[str, Any]] = []
        key = max(entries, default=None)
        since = entries[key]["at"] - JOURNAL_KEPT if key is not None else 0.0
        while key is not None and key in entries and entries[key]["at"] >= since:
            chain.append(entries[key])
            after = entries[key]["after"]
            key = None if after is None else _journal_key(after)
        self.last_journal[partition] = int(key[len(JOURNAL) :]) if key else 0
        if not chain:
            return 0
        for entry in chain:  # newest first: the oldest entry's values win
            self._stage(partition, entry["prev"])
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        for entry in chain:
            topic, offset = entry["topic"], entry["offset"]
            first[topic] = min(first.get(topic, offset), offset)
            last[topic] = max(last.get(topic, offset), offset)
        unread = self.unread.setdefault(partition, {})
        for topic, offset in first.items():
            handled = self.store.get(partition, topic) or 0  # may have gone back too
            unread[topic] = (offset, max(handled, last[topic] + 1))
            self.store.put(partition, topic, offset)
        self.checkpoint.commit_batch()
        log.info("analytics[%d]: %d recent records undone, to be read again", partition, len(chain))
        return len(chain)

    def _stage(self, partition: int, writes: dict[str, Any]) -> None:
        for key, value in writes.items():
            if value is None:
                self.store.delete(partition, key)
            else:
                self.store.put(partition, key, value)

    async def after_command(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        """An applied ack, resolve or silence by a person, of a group, an alert or an
        incident, goes on the history topic as an ``action`` event, with the state
        changes it is ordered after."""
        found = action_event(cmd, self.incident_members, now)
        if found is not None:
            tenant, event = found
            self.checkpoint.produce(history_topic.get_topic_name(), tenant.encode(), [event])

    def gc(self, now: float) -> int:
        """Forget resolved alerts past the flap window, hour windows past their
        retention, day windows and episodes past theirs. Returns keys deleted."""
        n = 0
        spec = self.specs.default  # the worker-wide flap window and retentions
        for p in self.owned():
            for key, entry in self.store.scan(p, JOURNAL):
                if entry["at"] < now - JOURNAL_KEPT and key != _journal_key(
                    self.last_journal.get(p, 0)
                ):
                    self.store.delete(p, key)
                    n += 1
            for key, st in self.store.scan(p, "a/"):
                if st.get("resolved") is not None and st["resolved"] < now - spec.flap_window:
                    self.store.delete(p, key)
                    n += 1
            for prefix, keep in (
                ("w/h/", spec.hourly_retention),
                ("w/d/", spec.retention),
                ("e/", spec.retention),
            ):
                cutoff = f"{prefix}{int(now - keep):010d}"
                for key, _ in self.store.scan(p, prefix):
                    if key >= cutoff:
                        break
                    self.store.delete(p, key)
                    n += 1
        self.checkpoint.commit_batch()
        return n

    # --- reads ----------------------------------------------------------------------------
    def owned(self) -> list[int]:
        topic = history_topic.get_topic_name()
        return sorted(
            tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic
        )

    def _scan(self, prefix: str) -> Iterator[tuple[str, Any]]:
        for p in self.owned():
            yield from self.store.scan(p, prefix)

    def rows(self, tenant: str | None, dim: str, frm: float, to: float) -> list[dict[str, Any]]:
        return query.local_rows(self._scan, tenant, dim, frm, to)

    def episodes(self, tenant: str, frm: float, to: float) -> list[dict[str, Any]]:
        return episodes(self._scan, tenant, frm, to)

    def sla_report(self, tenant: str, period: str, now: float) -> dict[str, Any]:
        start, end = sla.period_range(period)
        before = sla.period_range(sla.previous_period(period))
        return sla.report(
            tenant,
            period,
            self.specs.spec_for(tenant).sla,
            self.episodes(tenant, start, end),
            self.episodes(tenant, *before),
            now,
        )

    def recommendations(self, tenant: str, now: float) -> list[dict[str, Any]]:
        episodes = self.episodes(tenant, now - RECOMMEND_DAYS * DAY, now)
        rules, bands = self.learned(tenant, now)
        return recommend.recommend(episodes, self.thresholds, rules, bands)


def register(
    app: faust.App,
    analytics: Analytics,
    topics: dict[str, faust.TopicT],
    commands: Commands,
    guard: OffsetGuard,
) -> None:
    """One agent per input (``topics``: history and receipts), the commands observer and
    the retention timer. ``guard`` keeps its offsets in the analytics table itself."""
    commands.observers.append(analytics.after_command)
    # both inputs share the table's partitions: one recovery per partition taken
    owned = OwnedPartitions(history_topic.get_topic_name(), analytics.recover, lambda p: None)

    def incident_members(tenant: str, incident: str) -> list[str]:
        stage = commands.runtime.incidents  # None: correlation is off
        inc = stage.correlator.incidents.get(incident) if stage is not None else None
        return sorted(inc.members) if inc is not None and inc.tenant == tenant else []

    analytics.incident_members = incident_members
    store = analytics.store
    kinds = {topic.get_topic_name(): kind for kind, topic in topics.items()}

    def apply(partition: int, name: str, records: list[Record], at: float) -> Rejects:
        """Apply the records not handled yet (``at``: the time of one without its own),
        each with its own commit, with no await between a record's check, its effects
        and its offset: another agent's commit must not write the one without the
        other, and two agents may hold the same records (one reading back what
        ``recover`` undid while the other's own input delivers them)."""
        kind = kinds[name]
        rejects: Rejects = []
        for r in records:
            expected = store.get(partition, name)
            if expected is not None and r.offset < expected:
                continue  # handled before a restart, or by the other agent
            tenant = r.key.decode() if r.key else ""
            try:
                items = decode_batch(r.value)
                when = at if r.timestamp is None else r.timestamp
                bad = analytics.apply(partition, kind, (name, r.offset), tenant, items, when)
            except WireError as exc:
                bad = [raw_reject(r.value, str(exc))]
            rejects.append((r.key, bad))
            guard.handled(name, partition, r.offset)
            analytics.checkpoint.commit_batch()
        return rejects

    async def take(partition: int, at: float) -> Rejects:
        """A partition taken: ``recover`` undoes its recent records, and they are read
        again here, from every input at once (waiting for each input's next record to
        trigger the read-back left them uncounted while that input was quiet)."""
        owned.ensure(partition)
        rejects: Rejects = []
        for name, (start, end) in analytics.unread.pop(partition, {}).items():
            records = await guard.read(name, partition, start, end)
            rejects += apply(partition, name, records, at)
        return rejects

    for kind, topic in topics.items():
        name = topic.get_topic_name()

        async def handle(event: Any, kind: str = kind, name: str = name) -> None:
            message = event.message
            partition = message.partition
            owned.sync()
            rejects = await take(partition, message.timestamp)
            records = await guard.records(name, message)
            rejects += apply(partition, name, records, message.timestamp)
            for key, bad in rejects:
                await dead_letters(f"analytics.{kind}", key, bad)

        async def process(stream: Any, handle: Any = handle) -> None:
            async for event in stream.events():
                await handle(event)

        app.agent(topic, name=f"agents.analytics.{kind}")(process)

    @app.timer(GC_EVERY, name="agents.analytics.gc")
    async def gc() -> None:
        if not (app.rebalancing or app.in_recovery):
            analytics.gc(time.time())
