"""Envelope encryption's keys: KEKs from a keyring, data keys per tenant (and subject),
and ``DataProtection``, the one owner of both that seals and opens values.

* A **keyring** holds the key-encryption keys (KEKs; the last is current) and a pepper
  for subject references.  It comes from a file or the environment (``tables/keys.py``);
  here it is a value.
* A **data key** encrypts values.  There is one per tenant, and one per (tenant,
  subject) when a caller seals a person's data under ``subject`` (``user=alice@x.org``),
  so that erasing the subject is destroying its key (crypto-shredding).  Data keys are
  stored only wrapped by a KEK, as records of the compacted ``keys`` topic, keyed by
  (tenant, subject reference, data key id): every worker and the CLI read them all.  A
  tombstone is a shredded key.  Each data key is its own record, so two workers that
  create a tenant's first key at once both keep theirs (values under either stay
  readable); the newest is used for sealing.
* The subject itself is never stored: records carry ``subject_ref``, an HMAC of tenant
  and subject under the keyring's pepper.
* **Rotation** adds a KEK and re-wraps every data key under it; data keys and the
  values under them do not change, so old values stay readable and nothing is re-written.

``DataProtection`` does no I/O of its own: it reads the keyring through a
``KeyringSource`` and writes key records through a ``KeyStore``; the reader of the
``keys`` topic feeds it records with ``apply``.
"""

from __future__ import annotations

import base64
import hmac
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import orjson

from models.protection import envelope
from models.protection.envelope import SealError

__all__ = [
    "DataProtection",
    "Kek",
    "KeyUnavailable",
    "Keyring",
    "KeyringReadOnly",
    "Rotation",
    "SealError",
    "Shredded",
]


class KeyUnavailable(Exception):
    """The data key a value is sealed under is not known here (never seen, or its KEK is
    not in the keyring): the value cannot be opened."""


class Shredded(KeyUnavailable):
    """The data key a value is sealed under was destroyed: the value is gone for good."""


class KeyringReadOnly(Exception):
    """The keyring comes from the environment: a new KEK cannot be added from here."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@dataclass(frozen=True, slots=True)
class Kek:
    id: str
    key: bytes = field(repr=False)
    created: float


@dataclass(frozen=True, slots=True)
class Keyring:
    """The KEKs, oldest first (the last is current), and the subject pepper."""

    keks: tuple[Kek, ...]
    pepper: bytes = field(repr=False)

    @property
    def current(self) -> Kek:
        return self.keks[-1]

    def get(self, kek_id: str) -> Kek | None:
        return next((k for k in self.keks if k.id == kek_id), None)

    @classmethod
    def new(cls, now: float) -> Keyring:
        return cls((_new_kek(now),), os.urandom(32))

    def rotated(self, now: float) -> Keyring:
        """This keyring with a new current KEK (the old ones stay, to read what they wrap)."""
        return replace(self, keks=(*self.keks, _new_kek(now)))

    def retired(self) -> Keyring:
        """This keyring with only its current KEK: what the others wrapped is unreadable."""
        return replace(self, keks=(self.current,))

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "version": 1,
                "pepper": _b64(self.pepper),
                "keks": [{"id": k.id, "key": _b64(k.key), "created": k.created} for k in self.keks],
            },
            option=orjson.OPT_INDENT_2,
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Keyring:
        """ValueError naming what is wrong with a keyring document."""
        try:
            doc = orjson.loads(raw)
            keks = tuple(
                Kek(str(k["id"]), _unb64(k["key"]), float(k["created"])) for k in doc["keks"]
            )
            pepper = _unb64(doc["pepper"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a keyring ({type(exc).__name__}: {exc})") from None
        if not keks:
            raise ValueError("the keyring holds no key-encryption key")
        bad = [k.id for k in keks if len(k.key) != envelope.KEY_BYTES]
        if bad:
            raise ValueError(f"keys {bad} are not {envelope.KEY_BYTES} bytes (AES-256)")
        if len({k.id for k in keks}) != len(keks):
            raise ValueError("two key-encryption keys have the same id")
        return cls(keks, pepper)


def _new_kek(now: float) -> Kek:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return Kek(f"kek-{stamp}-{os.urandom(3).hex()}", envelope.new_key(), now)


class KeyringSource(Protocol):
    """Where the keyring lives (a file, the environment)."""

    def load(self) -> Keyring:
        """The keyring as it is now (re-read when it changed; created on first use)."""
        ...

    def rotate(self, now: float, older_than: float | None = None) -> Keyring | None:
        """Add a KEK, atomically for every process sharing the keyring; with
        ``older_than``, only if the current KEK is at least that many seconds old (None:
        it is not).  KeyringReadOnly if the keyring cannot be changed from here."""
        ...

    def retire(self, current: str) -> Keyring:
        """Drop every KEK but ``current`` (the caller's current one: if another process
        rotated meanwhile, nothing is dropped and ValueError says so)."""
        ...


class KeyStore(Protocol):
    """Where the wrapped data keys live (the ``keys`` topic)."""

    def publish(self, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        """Write (key, value or None for a tombstone) records durably, or raise."""
        ...

    def read_all(self, apply: Callable[[bytes | None, bytes | None], Any]) -> int:
        """Every record, in order per key, up to the end the store has now; how many."""
        ...


@dataclass(slots=True)
class DataKey:
    """One data key as its record holds it, and its plaintext once unwrapped here."""

    tenant: str
    subject: str  # the subject reference ("" for the tenant's own key)
    id: str
    kek: str  # the KEK that wraps it now
    wrapped: bytes
    created: float
    plain: bytes | None = field(default=None, repr=False)

    def record_key(self) -> bytes:
        return record_key(self.tenant, self.subject, self.id)

    def to_wire(self) -> bytes:
        return orjson.dumps(
            {
                "tenant": self.tenant,
                "subject": self.subject,
                "id": self.id,
                "kek": self.kek,
                "wrapped": _b64(self.wrapped),
                "created": self.created,
            }
        )

    @classmethod
    def from_wire(cls, raw: bytes) -> DataKey:
        d = orjson.loads(raw)
        return cls(
            str(d["tenant"]),
            str(d["subject"]),
            str(d["id"]),
            str(d["kek"]),
            _unb64(d["wrapped"]),
            float(d["created"]),
        )

    def context(self) -> bytes:
        return envelope.wrap_context(self.tenant, self.subject, self.id)


def record_key(tenant: str, subject_ref: str, data_key_id: str) -> bytes:
    """The ``keys`` topic key of a data key: compaction keeps its latest wrapping."""
    return orjson.dumps([tenant, subject_ref, data_key_id])


@dataclass(frozen=True, slots=True)
class Rotation:
    """What one rotation did: the KEK now current, the data keys re-wrapped under it,
    those that could not be (their KEK is missing from the keyring), and whether the
    older KEKs were retired."""

    kek_id: str
    rewrapped: int
    unavailable: tuple[str, ...] = ()
    retired: bool = False  # the older KEKs were dropped from the keyring
    shredded: int = 0  # keys shredded while they were being re-wrapped (tombstoned again)


class DataProtection:
    """Seals and opens values under per-tenant (and per-subject) data keys; the one
    owner of the data keys a process knows.  Thread-safe: the CLI and HTTP views may
    call it from threads."""

    def __init__(
        self,
        keyring: KeyringSource,
        store: KeyStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keyring = keyring
        self._store = store
        self._clock = clock
        self._lock = threading.RLock()
        self._keys: dict[str, DataKey] = {}  # data key id -> key
        self._current: dict[tuple[str, str], str] = {}  # (tenant, subject ref) -> newest id
        self._shredded: set[str] = set()  # ids whose tombstone was read
        self.ready = False  # the keys topic has been read to the end seen at start

    # --- the keys topic ------------------------------------------------------------------
    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the ``keys`` topic, in order (a tombstone shreds).  Records that
        are not ours are ignored: the topic is read by every worker and must not stop one."""
        if key is None:
            return
        try:
            tenant, subject, dk_id = orjson.loads(key)
            incoming = DataKey.from_wire(value) if value is not None else None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return
        with self._lock:
            if incoming is None:
                self._forget(dk_id)
                self._shredded.add(dk_id)
                return
            if dk_id in self._shredded:
                return  # a re-wrap that raced with the shred: ids are never reused
            known = self._keys.get(dk_id)
            if known is not None and known.tenant == incoming.tenant:
                incoming.plain = known.plain  # re-wrapped: the key itself is the same
            self._keys[dk_id] = incoming
            slot = (tenant, subject)
            newest = self._keys.get(self._current.get(slot, ""))
            if newest is None or (incoming.created, incoming.id) > (newest.created, newest.id):
                self._current[slot] = dk_id

    def _forget(self, dk_id: str) -> None:
        gone = self._keys.pop(dk_id, None)
        if gone is None:
            return
        slot = (gone.tenant, gone.subject)
        if self._current.get(slot) == dk_id:
            rest = [k for k in self._keys.values() if (k.tenant, k.subject) == slot]
            if rest:
                self._current[slot] = max(rest, key=lambda k: (k.created, k.id)).id
            else:
                del self._current[slot]

    # --- sealing -------------------------------------------------------------------------
    def subject_ref(self, tenant: str, subject: str) -> str:
        """The pseudonym a subject's data key is stored under (the subject never is)."""
        mac = hmac.new(self._keyring.load().pepper, envelope.context(tenant, subject), "sha256")
        return mac.hexdigest()[:32]

    def seal(self, tenant: str, plaintext: bytes, subject: str | None = None) -> bytes:
        """``plaintext`` sealed under the tenant's (or the subject's) current data key,
        created (and written to the keys store first) if there is none."""
        ref = self.subject_ref(tenant, subject) if subject else ""
        with self._lock:
            dk = self._keys.get(self._current.get((tenant, ref), ""))
            if dk is None:
                dk = self._create(tenant, ref)
            plain = self._plain(dk)
        return envelope.seal(plain, dk.kek, dk.id, plaintext, envelope.context(tenant, ref))

    def has_key(self, tenant: str, subject: str | None = None) -> bool:
        """Whether ``seal`` has a data key to use (else it creates one, which waits for
        the keys store: a caller on an event loop calls ``ensure_key`` in a thread first)."""
        ref = self.subject_ref(tenant, subject) if subject else ""
        with self._lock:
            return (tenant, ref) in self._current

    def ensure_key(self, tenant: str, subject: str | None = None) -> None:
        """Create the tenant's (or subject's) data key now if it has none."""
        self.seal(tenant, b"", subject)

    def unseal(self, blob: bytes, tenant: str | None = None) -> bytes:
        """The plaintext of a sealed value.  Shredded if its data key was destroyed,
        KeyUnavailable if it is unknown here, SealError if the value was tampered with
        or (``tenant`` given) belongs to another tenant."""
        head = envelope.header(blob)
        with self._lock:
            dk = self._keys.get(head.data_key_id)
            if dk is None:
                if head.data_key_id in self._shredded:
                    raise Shredded(f"data key {head.data_key_id} was shredded")
                raise KeyUnavailable(
                    f"data key {head.data_key_id} is unknown (shredded and compacted away, "
                    "or from another keys topic)"
                )
            plain = self._plain(dk)
        if tenant is not None and tenant != dk.tenant:
            raise SealError(f"sealed for another tenant than {tenant!r}")
        return envelope.open_sealed(plain, blob, envelope.context(dk.tenant, dk.subject))

    def _create(self, tenant: str, ref: str) -> DataKey:
        kek = self._keyring.load().current
        plain = envelope.new_key()
        dk_id = f"dk-{os.urandom(8).hex()}"
        ctx = envelope.wrap_context(tenant, ref, dk_id)
        wrapped = envelope.wrap(kek.key, kek.id, dk_id, plain, ctx)
        dk = DataKey(tenant, ref, dk_id, kek.id, wrapped, self._clock())
        self._store.publish([(dk.record_key(), dk.to_wire())])  # durable before any use
        self.apply(dk.record_key(), dk.to_wire())
        self._keys[dk_id].plain = plain
        return self._keys[dk_id]

    def _plain(self, dk: DataKey) -> bytes:
        if dk.plain is None:
            kek = self._kek(dk.kek)
            try:
                dk.plain = envelope.unwrap(kek.key, dk.wrapped, dk.context())
            except SealError as exc:
                raise KeyUnavailable(f"data key {dk.id} does not unwrap under {dk.kek}") from exc
        return dk.plain

    def _kek(self, kek_id: str) -> Kek:
        kek = self._keyring.load().get(kek_id)
        if kek is None:
            raise KeyUnavailable(f"key-encryption key {kek_id} is not in the keyring")
        return kek

    # --- shredding and rotation -----------------------------------------------------------
    def shred(self, tenant: str, subject: str | None = None) -> int:
        """Destroy the tenant's data keys (every one, its subjects' too), or only the
        subject's: tombstones on the keys store, then forgotten here.  How many."""
        ref = self.subject_ref(tenant, subject) if subject else None
        with self._lock:
            doomed = [
                k
                for k in self._keys.values()
                if k.tenant == tenant and (ref is None or k.subject == ref)
            ]
            if doomed:
                self._store.publish([(k.record_key(), None) for k in doomed])
            for k in doomed:
                self.apply(k.record_key(), None)
        return len(doomed)

    def rotate(self, now: float | None = None, *, retire: bool = False) -> Rotation:
        """A new current KEK, and every data key re-wrapped under it (KeyringReadOnly if
        the keyring cannot be changed from here).

        ``retire``: then drop the older KEKs from the keyring, if every data key was
        re-wrapped.  This completes a shred on a topic that is not (yet) compacted: the
        shredded key's earlier records are wrapped by KEKs that no longer exist."""
        now = self._clock() if now is None else now
        self._keyring.rotate(now)
        done = self.rewrap()
        if retire and not done.unavailable:
            self._keyring.retire(done.kek_id)
            done = replace(done, retired=True)
        return done

    def rotate_if_due(self, interval: float, now: float | None = None) -> Rotation | None:
        """``rotate`` if the current KEK is at least ``interval`` seconds old (the check
        and the new KEK are one step of the keyring source: of several workers, one
        rotates); None when it is not due."""
        now = self._clock() if now is None else now
        if self._keyring.rotate(now, older_than=interval) is None:
            return None
        return self.rewrap()

    def rewrap(self) -> Rotation:
        """Every data key not wrapped under the current KEK, re-wrapped under it.

        A shred racing with it must win: a re-wrap written after a key's tombstone would
        outlive the tombstone under compaction and bring the key back.  So the store is
        read to its end first (a key shredded by then is not re-wrapped), and again
        after the re-wraps are written: a key whose tombstone came in between is
        tombstoned again, after its re-wrap (readers ignore a re-wrap of a key they saw
        shredded, so none uses it meanwhile)."""
        kek = self._keyring.load().current
        self._store.read_all(self.apply)
        with self._lock:
            out: list[DataKey] = []
            unavailable: list[str] = []
            for dk in self._keys.values():
                if dk.kek == kek.id:
                    continue
                try:
                    plain = self._plain(dk)
                except KeyUnavailable:
                    unavailable.append(dk.id)
                    continue
                wrapped = envelope.wrap(kek.key, kek.id, dk.id, plain, dk.context())
                out.append(replace(dk, kek=kek.id, wrapped=wrapped))
        if not out:
            return Rotation(kek.id, 0, tuple(unavailable))
        self._store.publish([(dk.record_key(), dk.to_wire()) for dk in out])
        for dk in out:
            self.apply(dk.record_key(), dk.to_wire())
        self._store.read_all(self.apply)
        with self._lock:
            raced = [dk for dk in out if dk.id in self._shredded]
        if raced:
            self._store.publish([(dk.record_key(), None) for dk in raced])
        return Rotation(kek.id, len(out) - len(raced), tuple(unavailable), shredded=len(raced))

    # --- reporting -----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The keyring's KEKs with the number of data keys each wraps, and the data keys
        per tenant (and how many are subjects')."""
        keyring = self._keyring.load()
        with self._lock:
            keys = list(self._keys.values())
            shredded = len(self._shredded)
        by_kek = Counter(k.kek for k in keys)
        tenants: dict[str, dict[str, int]] = {}
        for k in keys:
            t = tenants.setdefault(k.tenant, {"data_keys": 0, "subject_keys": 0})
            t["data_keys"] += 1
            t["subject_keys"] += bool(k.subject)
        return {
            "ready": self.ready,
            "current_kek": keyring.current.id,
            "keks": [
                {"id": k.id, "created": k.created, "data_keys": by_kek.pop(k.id, 0)}
                for k in keyring.keks
            ],
            # data keys wrapped by a KEK the keyring does not hold (unreadable here)
            "missing_keks": dict(by_kek),
            "data_keys": len(keys),
            "shredded_seen": shredded,
            "tenants": dict(sorted(tenants.items())),
        }

    def key_ids(self) -> dict[str, tuple[str, str]]:
        """data key id -> (tenant, subject ref) of every live data key (for counting the
        values found under each)."""
        with self._lock:
            return {k.id: (k.tenant, k.subject) for k in self._keys.values()}
