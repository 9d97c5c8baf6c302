"""DataProtection over an in-memory keys store that keeps the records like a topic:
two processes share a keyring and read the same records; shredding, rotation and
concurrent key creation behave as the docs say."""

from __future__ import annotations

import pytest

from models.protection import envelope
from models.protection.keyring import (
    DataProtection,
    Keyring,
    KeyringReadOnly,
    KeyUnavailable,
    SealError,
    Shredded,
)


class Topic:
    """An append-only log of (key, value) records, as the keys topic."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []

    def publish(self, records):
        self.records += list(records)

    def read_all(self, apply):
        for k, v in list(self.records):
            apply(k, v)
        return len(self.records)

    def compacted(self) -> list[tuple[bytes, bytes | None]]:
        """What compaction (with tombstones removed) leaves."""
        last = dict(self.records)
        return [(k, v) for k, v in last.items() if v is not None]


class SharedKeyring:
    def __init__(self, now: float = 1000.0) -> None:
        self.keyring = Keyring.new(now)
        self.read_only = False

    def load(self) -> Keyring:
        return self.keyring

    def rotate(self, now, older_than=None):
        if self.read_only:
            raise KeyringReadOnly("env")
        if older_than is not None and now - self.keyring.current.created < older_than:
            return None
        self.keyring = self.keyring.rotated(now)
        return self.keyring

    def retire(self, current):
        assert self.keyring.current.id == current
        self.keyring = self.keyring.retired()
        return self.keyring


def process(keyring: SharedKeyring, topic: Topic, records=None) -> DataProtection:
    """A process that has read the topic (or ``records``) to its end."""
    p = DataProtection(keyring, topic, clock=lambda: 2000.0)
    for k, v in topic.records if records is None else records:
        p.apply(k, v)
    p.ready = True
    return p


@pytest.fixture
def shared():
    return SharedKeyring(), Topic()


def test_sealed_by_one_process_opens_in_another(shared):
    keyring, topic = shared
    worker = process(keyring, topic)
    blob = worker.seal("acme", b"auth_password=hunter2")
    assert b"hunter2" not in blob
    cli = process(keyring, topic)
    assert cli.unseal(blob) == b"auth_password=hunter2"
    assert cli.unseal(blob, tenant="acme") == b"auth_password=hunter2"
    with pytest.raises(SealError, match="another tenant"):
        cli.unseal(blob, tenant="globex")
    # one data key for the tenant, reused; another tenant's is made on demand
    worker.seal("acme", b"again")
    assert len(topic.records) == 1
    assert worker.has_key("acme") and not worker.has_key("globex")
    worker.ensure_key("globex")
    assert worker.has_key("globex") and len(topic.records) == 2
    assert envelope.header(blob).kek_id == keyring.keyring.current.id


def test_tenants_and_subjects_have_their_own_keys_and_the_subject_is_never_stored(shared):
    keyring, topic = shared
    p = process(keyring, topic)
    a = p.seal("acme", b"1")
    b = p.seal("globex", b"2")
    c = p.seal("acme", b"3", subject="user=alice@x.org")
    ids = {envelope.header(x).data_key_id for x in (a, b, c)}
    assert len(ids) == 3
    assert not any(b"alice" in (k + (v or b"")) for k, v in topic.records)
    assert p.subject_ref("acme", "user=alice@x.org") != p.subject_ref("globex", "user=alice@x.org")


def test_shredding_a_subject_leaves_the_tenant_and_other_subjects_readable(shared):
    keyring, topic = shared
    worker = process(keyring, topic)
    alice = worker.seal("acme", b"alice's", subject="user=alice")
    bob = worker.seal("acme", b"bob's", subject="user=bob")
    tenant = worker.seal("acme", b"tenant's")
    cli = process(keyring, topic)
    assert cli.shred("acme", subject="user=alice") == 1
    worker.apply(*topic.records[-1])  # the worker reads the tombstone
    for p in (cli, worker):
        with pytest.raises(Shredded):
            p.unseal(alice)
        assert p.unseal(bob) == b"bob's"
        assert p.unseal(tenant) == b"tenant's"
    # after compaction the key is simply unknown: still unreadable
    later = process(keyring, topic, topic.compacted())
    with pytest.raises(KeyUnavailable):
        later.unseal(alice)
    assert later.unseal(bob) == b"bob's"


def test_shredding_a_tenant_destroys_its_subjects_keys_too(shared):
    keyring, topic = shared
    p = process(keyring, topic)
    blobs = [p.seal("acme", b"t"), p.seal("acme", b"s", subject="user=alice")]
    other = p.seal("globex", b"g")
    assert p.shred("acme") == 2
    for blob in blobs:
        with pytest.raises(Shredded):
            p.unseal(blob)
    assert p.unseal(other) == b"g"
    assert p.seal("acme", b"new") != blobs[0]  # new data gets a new key
    assert p.shred("nobody") == 0


def test_rotation_rewraps_and_old_values_stay_readable_in_every_process(shared):
    keyring, topic = shared
    worker = process(keyring, topic)
    old = worker.seal("acme", b"before")
    old_kek = keyring.keyring.current.id
    cli = process(keyring, topic)
    rotation = cli.rotate(now=3000.0)
    assert rotation.kek_id != old_kek and rotation.rewrapped == 1
    last = dict(topic.records)
    assert {v for v in last.values()} and all(old_kek not in v.decode() for v in last.values())
    for k, v in topic.records[-1:]:
        worker.apply(k, v)
    # a fresh process reading only the compacted topic opens the old value...
    fresh = process(keyring, topic, topic.compacted())
    assert fresh.unseal(old) == b"before"
    # ...even with the old KEK gone from the keyring: its data key is wrapped by the new
    keyring.keyring = Keyring(keyring.keyring.keks[1:], keyring.keyring.pepper)
    assert process(keyring, topic, topic.compacted()).unseal(old) == b"before"
    assert worker.unseal(old) == b"before"
    new = worker.seal("acme", b"after")
    assert envelope.header(new).kek_id == rotation.kek_id
    status = worker.status()
    assert status["current_kek"] == rotation.kek_id
    assert status["keks"] == [{"id": rotation.kek_id, "created": 3000.0, "data_keys": 1}]


def test_a_data_key_whose_kek_is_missing_is_unavailable_not_garbage(shared):
    keyring, topic = shared
    blob = process(keyring, topic).seal("acme", b"x")
    elsewhere = process(SharedKeyring(), topic)  # another keyring: the KEK is unknown
    with pytest.raises(KeyUnavailable, match="not in the keyring"):
        elsewhere.unseal(blob)
    assert elsewhere.status()["missing_keks"] == {keyring.keyring.current.id: 1}
    assert elsewhere.rewrap().unavailable == (envelope.header(blob).data_key_id,)


def test_scheduled_rotation_happens_once_per_interval(shared):
    keyring, topic = shared
    a, b = process(keyring, topic), process(keyring, topic)
    a.seal("acme", b"x")
    b.apply(*topic.records[-1])
    assert a.rotate_if_due(500.0, now=1200.0) is None  # the KEK is 200 s old
    done = a.rotate_if_due(500.0, now=1600.0)
    assert done is not None and done.rewrapped == 1
    assert b.rotate_if_due(500.0, now=1601.0) is None  # b sees a's fresh KEK
    assert len(keyring.keyring.keks) == 2


def test_read_only_keyring_refuses_rotation(shared):
    keyring, topic = shared
    keyring.read_only = True
    with pytest.raises(KeyringReadOnly):
        process(keyring, topic).rotate()


def test_two_processes_creating_a_tenant_key_at_once_both_stay_readable(shared):
    keyring, topic = shared
    a, b = process(keyring, topic), process(keyring, topic)
    x, y = a.seal("acme", b"from a"), b.seal("acme", b"from b")
    assert envelope.header(x).data_key_id != envelope.header(y).data_key_id
    reader = process(keyring, topic, topic.compacted())
    assert (reader.unseal(x), reader.unseal(y)) == (b"from a", b"from b")


def test_records_that_are_not_keys_are_ignored(shared):
    keyring, topic = shared
    p = process(keyring, topic, [(None, b"x"), (b"not json", b"{}"), (b'["a","","d"]', b"[1]")])
    assert p.status()["data_keys"] == 0


def test_keyring_document_round_trip_and_errors():
    kr = Keyring.new(1.0).rotated(2.0)
    assert Keyring.from_json(kr.to_json()) == kr
    for bad, why in (
        (b"{", "not a keyring"),
        (b'{"pepper": "", "keks": []}', "no key-encryption key"),
        (b'{"pepper": "", "keks": [{"id": "a", "key": "AAAA", "created": 1}]}', "32 bytes"),
    ):
        with pytest.raises(ValueError, match=why):
            Keyring.from_json(bad)


def test_retiring_old_keks_makes_a_shredded_keys_old_records_useless(shared):
    """Without compaction the shredded key's record is still on the topic, wrapped by the
    KEK of its time; rotating with ``retire`` leaves no KEK that opens it."""
    keyring, topic = shared
    p = process(keyring, topic)
    alice = p.seal("acme", b"alice's", subject="user=alice")
    kept = p.seal("acme", b"tenant's")
    p.shred("acme", subject="user=alice")
    done = p.rotate(now=5000.0, retire=True)
    assert done.retired and done.rewrapped == 1
    assert [k.id for k in keyring.keyring.keks] == [done.kek_id]
    # an attacker with the keyring replays the uncompacted topic without the tombstone
    replayed = process(keyring, topic, [r for r in topic.records if r[1] is not None])
    with pytest.raises(KeyUnavailable, match="not in the keyring"):
        replayed.unseal(alice)
    assert replayed.unseal(kept) == b"tenant's"


# --- rotation racing with erasure -----------------------------------------------------------
def test_a_key_shredded_before_the_rotation_reads_the_topic_is_not_rewrapped(shared):
    """The rotating process read the topic before the shred; it reads it again first."""
    keyring, topic = shared
    worker = process(keyring, topic)
    blob = worker.seal("acme", b"alice's")
    cli = process(keyring, topic)  # has read acme's key
    worker.shred("acme")
    done = cli.rotate(now=3000.0)
    assert (done.rewrapped, done.shredded) == (0, 0)
    assert topic.records[-1][1] is None  # the tombstone is still the last word
    for reader in (cli, process(keyring, topic), process(keyring, topic, topic.compacted())):
        with pytest.raises(KeyUnavailable):
            reader.unseal(blob)


class RacingTopic(Topic):
    """The shred lands between the rotation's read of the topic and its re-wraps."""

    def __init__(self) -> None:
        super().__init__()
        self.before_rewraps = None

    def publish(self, records):
        records = list(records)
        if self.before_rewraps and all(v is not None for _, v in records):
            race, self.before_rewraps = self.before_rewraps, None
            race()
        super().publish(records)


def test_a_shred_landing_before_the_rewraps_is_tombstoned_again_after_them():
    keyring, topic = SharedKeyring(), RacingTopic()
    worker = process(keyring, topic)
    gone, kept = worker.seal("acme", b"alice's"), worker.seal("beta", b"beta's")
    follower = process(keyring, topic)
    cli = process(keyring, topic)
    topic.before_rewraps = lambda: worker.shred("acme")
    done = cli.rotate(now=3000.0)
    assert (done.rewrapped, done.shredded) == (1, 1)
    acme = envelope.header(gone).data_key_id
    last = dict(topic.records)
    assert [v for k, v in last.items() if acme in k.decode()] == [None]  # tombstone last
    # the re-wrap sits between two tombstones on the log: a follower applying it in
    # order ignores it, and so does anyone reading the log or its compaction later
    for k, v in topic.records[2:-1]:  # the first tombstone and the re-wraps, not the last
        follower.apply(k, v)
    for reader in (
        follower,
        cli,
        process(keyring, topic),
        process(keyring, topic, topic.compacted()),
    ):
        with pytest.raises(KeyUnavailable):
            reader.unseal(gone)
        assert reader.unseal(kept) == b"beta's"
    keyring.keyring = keyring.keyring.retired()  # the old KEK gone: beta's key re-wrapped
    assert process(keyring, topic, topic.compacted()).unseal(kept) == b"beta's"
