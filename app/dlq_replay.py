"""`alertstream dlq replay`: send dead-lettered notifications again.

The `dlq` topic is read without joining a consumer group (a join waits for the session
timeout: ~24 s on the embedded broker): every partition is assigned explicitly and read
from the offset the group ``<app id>-dlq-replay`` committed (the beginning if none) to
the end the broker reports while fetching.  (Not to the end listed up front: Tansu
0.6 lists a partition's end as one past the first offset of its last batch, short of
the end when that batch holds several records.)

Each notification dead letter is sent again -- its stored request, through a Deliverer
built as the worker builds it, under the pipelines file's `delivery:` policy.  A letter
that still fails goes back to `dlq` with its new reason; one that ``--id`` did not
select goes back unchanged; a notification seen twice is sent once.  Only when those
are written are the offsets read committed, so the next replay offers exactly what is
still undelivered.  Letters of other sources (rejected samples, alerts, commands) are
listed, not replayed.  ``--dry-run`` lists what would be replayed and changes nothing.

A topic that cannot be read to its end is an error (exit 1): the replay never reports
"0 read" for letters it could not see.

Letters' items are sealed (``models/dead_letter.py: SEALED_FIELDS``): the replay reads
the keys topic and the keyring to open them, and seals what it writes back.  A letter
whose data key was shredded (its tenant or subject erased) is listed and dropped; one
whose key is unavailable here (a keyring without its KEK) stops the replay (exit 1,
nothing committed), so no letter is lost to a misconfigured keyring.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from app.config.deliverer import build_deliverer
from app.config.schema import PipelinesConfig
from channels.outbound import REFUSED
from channels.receipt import Receipt
from models.dead_letter import NOTIFICATIONS, SEALED_FIELDS, dead_letter, undelivered
from models.durations import format_duration
from models.protection.fields import SEALED, open_fields, seal_fields
from models.protection.keyring import DataProtection, KeyUnavailable, SealError, Shredded
from tables.kafka_clients import client_config

EXIT_FAILED = 1


class DlqError(Exception):
    """The `dlq` topic could not be read or written as needed: the replay claims nothing."""


@dataclass
class DeadLetters:
    """What one read of `dlq` found, and the offsets to commit once it is dealt with."""

    letters: list[dict[str, Any]]
    ends: list[TopicPartition]


@dataclass
class ReplayPlan:
    """The letters read, sorted by what the replay does with each."""

    # notifications to send again: (the letter, the Deliverer's record in it)
    send: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    keep: list[dict[str, Any]] = field(default_factory=list)  # not selected: written back
    listed: list[dict[str, Any]] = field(default_factory=list)  # other sources: shown only
    duplicates: int = 0


def read_dead_letters(consumer: Consumer, topic: str, timeout: float) -> DeadLetters:
    """Every letter on ``topic`` after the committed offsets, read to each partition's end
    within ``timeout`` seconds (DlqError otherwise)."""
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            error = meta.error.str() if meta is not None and meta.error else "no partitions"
            raise DlqError(f"topic {topic} cannot be read ({error}); is the topic prefix right?")
        partitions = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        committed = consumer.committed(partitions, timeout=timeout)
    except KafkaException as exc:
        raise DlqError(f"the broker did not answer: {exc.args[0].str()}") from exc
    consumer.assign(
        [
            TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
            for tp in committed
        ]
    )
    letters: list[dict[str, Any]] = []
    ends: dict[int, int] = {}
    last_error = ""
    deadline = time.monotonic() + timeout
    while len(ends) < len(partitions):
        if time.monotonic() > deadline:
            unread = sorted({tp.partition for tp in partitions} - set(ends))
            raise DlqError(
                f"{topic}: partitions {unread} not read to their end within {timeout:.0f} s"
                + (f" (last error: {last_error})" if last_error else "")
            )
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                ends.setdefault(msg.partition(), msg.offset())
            else:
                last_error = error.str()
            continue
        if msg.partition() not in ends:  # a letter past the end is for the next replay
            letters += decode_record(msg.value(), f"{topic}[{msg.partition()}]@{msg.offset()}")
    return DeadLetters(letters, [TopicPartition(topic, p, offset) for p, offset in ends.items()])


def decode_record(raw: bytes | None, where: str) -> list[dict[str, Any]]:
    """The letters of one `dlq` record (a JSON array of them, or one); a record that is not
    one becomes a letter saying so, so that it is listed rather than silently skipped."""
    try:
        value = orjson.loads(raw or b"null")
    except orjson.JSONDecodeError as exc:
        return [
            dead_letter(
                "dlq", f"unreadable record at {where}: {exc}", (raw or b"").decode(errors="replace")
            )
        ]
    items = value if isinstance(value, list) else [value]
    return [
        item
        if isinstance(item, dict)
        else dead_letter("dlq", f"not a dead letter at {where}", item)
        for item in items
    ]


def plan_replay(letters: list[dict[str, Any]], only_id: str | None) -> ReplayPlan:
    """Sort letters: notifications to send (each id once), to keep (not ``only_id``), and
    the rest, which are listed only."""
    plan = ReplayPlan()
    seen: set[str] = set()
    for letter in letters:
        record = undelivered(letter)
        if record is None:
            plan.listed.append(letter)
            continue
        notification_id = str(record["notification"].get("id"))
        if notification_id in seen:
            plan.duplicates += 1
        elif only_id and notification_id != only_id:
            plan.keep.append(letter)
        else:
            plan.send.append((letter, record))
        seen.add(notification_id)
    return plan


def describe(letter: dict[str, Any], now: float) -> str:
    """One line for an operator: id, receiver, channel, reason and age of a dead letter."""
    record = undelivered(letter) or {}
    at = letter.get("at", record.get("dead_at"))
    age = format_duration(max(0, round(now - at))) if isinstance(at, int | float) else "?"
    if not record:
        return f"source={letter.get('source')} reason={letter.get('reason')} age={age}"
    n = record["notification"]
    error = f" ({record['last_error']})" if record.get("last_error") else ""
    return (
        f"id={n.get('id')} receiver={n.get('receiver')} channel={n.get('channel')} "
        f"reason={record.get('reason', letter.get('reason'))}{error} age={age}"
    )


async def send_again(config: PipelinesConfig, records: list[dict[str, Any]]) -> list[Receipt]:
    """Re-send each record's stored request through the worker's kind of Deliverer.

    The replay cannot tell which tenants set their own receivers, so a tenant with a
    letter the outbound policy refused has all its letters checked again: a replay
    never sends what the policy refused."""
    refused = {
        str(r.get("notification", {}).get("tenant", ""))
        for r in records
        if REFUSED in str(r.get("last_error") or "")
    }
    async with aiohttp.ClientSession() as session:
        deliverer = build_deliverer(config, session, set_by_tenant=refused.__contains__)
        try:
            return list(await asyncio.gather(*(deliverer.replay(r) for r in records)))
        finally:
            await deliverer.close()


def open_letter(letter: dict[str, Any], keys: Callable[[], DataProtection]) -> dict[str, Any]:
    """A letter with its item unsealed; one whose data key was shredded becomes a letter
    listed only (its item is erased).  DlqError if the key is unavailable or the letter
    was tampered with: the replay must not drop what it cannot read."""
    if SEALED not in letter:
        return letter  # written before letters were sealed
    try:
        return open_fields(letter, keys().unseal)
    except Shredded:
        opened = {k: v for k, v in letter.items() if k != SEALED}
        return {**opened, "source": "dlq", "reason": f"{letter.get('reason')} (item erased)"}
    except (KeyUnavailable, SealError, ValueError) as exc:
        raise DlqError(f"a dead letter cannot be opened: {exc}") from exc


def write_back(
    producer: Producer,
    topic: str,
    letters: list[dict[str, Any]],
    timeout: float,
    protection: DataProtection,
) -> None:
    """Produce ``letters`` to `dlq` again, keyed by tenant like the worker's and sealed for
    it; DlqError unless the broker confirmed every one."""
    errors: list[str] = []

    def confirmed(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            errors.append(err.str())

    for letter in letters:
        tenant = str(((undelivered(letter) or {}).get("notification") or {}).get("tenant", ""))
        sealed = seal_fields(letter, SEALED_FIELDS, partial(protection.seal, tenant))
        producer.produce(topic, orjson.dumps([sealed]), tenant.encode(), on_delivery=confirmed)
    if producer.flush(timeout) or errors:
        raise DlqError(
            f"could not write {len(letters)} letters back to {topic}: "
            f"{errors[0] if errors else 'no answer from the broker'}"
        )


@dataclass
class DlqReplay:
    """One run of the command against one broker and `dlq` topic."""

    config: PipelinesConfig
    broker: str
    topic: str
    group: str  # the consumer group whose committed offsets mark what was replayed
    credentials: str = ""
    timeout: float = 30.0  # seconds for each step: reading to the end, writing back
    out: Callable[[str], None] = print
    # opens the keys (keyring + keys topic) when a letter is to be unsealed or sealed
    protection: Callable[[], DataProtection] | None = None
    _protection: DataProtection | None = field(default=None, init=False, repr=False)

    def run(self, only_id: str | None = None, *, dry_run: bool = False) -> int:
        """0 when every selected letter was delivered (or, with ``dry_run``, listed); 1 when
        some still fail, or when `dlq` could not be read or written (said on stderr)."""
        consumer = Consumer(
            {
                **client_config(self.broker, self.credentials),
                "group.id": self.group,
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 100,
            }
        )
        try:
            return self._run(consumer, only_id, dry_run)
        except DlqError as exc:
            print(f"dlq replay: {self.topic} on {self.broker}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        finally:
            consumer.close()

    def _keys(self) -> DataProtection:
        """The keys, opened once, on first need (a DlqError if they cannot be)."""
        if self._protection is None:
            if self.protection is None:
                raise DlqError("sealed dead letters, and no keyring to open them")
            try:
                self._protection = self.protection()
            except Exception as exc:  # the keyring file or the keys topic: said as it is
                raise DlqError(f"cannot open the keys: {exc}") from exc
        return self._protection

    def _run(self, consumer: Consumer, only_id: str | None, dry_run: bool) -> int:
        read = read_dead_letters(consumer, self.topic, self.timeout)
        letters = [open_letter(letter, self._keys) for letter in read.letters]
        plan = plan_replay(letters, only_id)
        now = time.time()
        for letter in plan.listed:
            self.out(f"{'listed':12} {describe(letter, now)}")
        if dry_run:
            for letter, _ in plan.send:
                self.out(f"{'would send':12} {describe(letter, now)}")
            self.out(
                f"{len(letters)} dead letters read, {len(plan.send)} would be replayed "
                "(dry run: nothing sent, offsets not committed)"
            )
            return 0
        records = [record for _, record in plan.send]
        receipts = asyncio.run(send_again(self.config, records)) if records else []
        for (letter, _), receipt in zip(plan.send, receipts, strict=True):
            now_failing = f"; now {receipt.last_error}" if receipt.dead_letter else ""
            self.out(f"{receipt.status:12} {describe(letter, now)}{now_failing}")
        again = [
            dead_letter(NOTIFICATIONS, r.dead_letter["reason"], r.dead_letter)
            for r in receipts
            if r.dead_letter
        ]
        if again or plan.keep:
            producer = Producer(client_config(self.broker, self.credentials))
            write_back(producer, self.topic, again + plan.keep, self.timeout, self._keys())
        try:
            consumer.commit(offsets=read.ends, asynchronous=False)
        except KafkaException as exc:
            raise DlqError(
                f"letters replayed but their offsets not committed ({exc.args[0].str()}): "
                "the next replay offers them again"
            ) from exc
        self.out(
            f"{len(letters)} dead letters read, {sum(r.ok for r in receipts)} delivered, "
            f"{len(again)} still failing, {len(plan.keep)} not selected "
            f"({len(again) + len(plan.keep)} written back), {plan.duplicates} duplicates, "
            f"{len(plan.listed)} listed only"
        )
        return EXIT_FAILED if again else 0
