"""Personal data on the alert path: pseudonyms in, values back out at delivery, GDPR
erasure and export.

One owner, ``PersonalData``, built in ``app/worker.py``; it hooks the alert path only
when ``data_protection.personal_labels`` is set (otherwise the alert path has no hook
at all).  It keeps ``models.privacy.pseudonyms.Pseudonyms`` for the partitions this worker
owns, and stores each mapping in the ``subjects`` table, keyed by token, with the value
sealed under the subject's own data key (``keys.seal(tenant, value, subject)``)::

    subjects["pii-3f9c..."] = {"tenant": "acme", "label": "user",
                               "sealed": <base64 blob>, "fingerprints": [...]}

Erasure (``gdpr.erase`` on the commands topic, applied here on the partition that owns
the tenant) deletes the mapping and the subject's history entries, and shreds the
subject's key: the old changelog records of the mapping can no longer be opened, and
the tokens in topics and tables name nobody.  It leaves a marker,
``subjects["erased/<tenant>/<subject ref>"] = {"at": <time>}``, so that an alert that
started before the erasure and is read again from the input topic (a replay after a
crash) gets ``[erased]`` instead of a new pseudonym.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from agents.commands import CommandError
from models.alerting.alert import Alert
from models.privacy.pseudonyms import Pseudonyms, Subject
from tables.store import Checkpoint, PartitionStore

if TYPE_CHECKING:
    from agents.runtime import AlertRuntime

log = logging.getLogger(__name__)

ERASE = "gdpr.erase"
ERASED_PREFIX = "erased/"  # subjects-table keys of erasure markers
KEYS_WAIT = 60.0  # seconds a partition's mappings wait for the data keys to be read


class Keys(Protocol):
    """Envelope encryption with a data key per tenant or per subject (issue 16's keyring)."""

    def seal(self, tenant: str, plaintext: bytes, subject: str | None = None) -> bytes: ...

    def unseal(self, blob: bytes) -> bytes: ...

    def shred(self, tenant: str, subject: str | None = None) -> Any: ...

    def subject_ref(self, tenant: str, subject: str) -> str: ...


class PersonalData:
    def __init__(
        self,
        labels: Iterable[str],
        keys: Keys,
        subjects: PartitionStore,
        history: PartitionStore,
        checkpoint: Checkpoint,
    ) -> None:
        self.pseudonyms = Pseudonyms(labels, erased_since=self._erased_since)
        self.keys = keys
        self.subjects = subjects
        self.history = history
        self.checkpoint = checkpoint
        self.loaded: set[int] = set()
        self._sealed: dict[str, str] = {}  # token -> its sealed value, as stored
        self._partition: dict[str, int] = {}  # token -> the partition storing it
        self._erasures: dict[str, float] = {}  # "erased/<tenant>/<subject ref>" -> when
        self.erased = 0  # subjects erased by this worker (reported at /api/v1/status)
        self.on_erase: list[Callable[[str, list[str], float], Any]] = []  # audit

    # --- state --------------------------------------------------------------------------
    async def ensure(self, partition: int) -> None:
        """Read the partition's mappings back once (after an assignment or a restart),
        once the data keys have been read: a mapping opened before would look erased."""
        if partition in self.loaded:
            return
        waited = 0.0
        while not getattr(self.keys, "ready", True) and waited < KEYS_WAIT:
            await asyncio.sleep(0.05)
            waited += 0.05
        if partition in self.loaded:  # loaded by another caller meanwhile
            return
        self.loaded.add(partition)
        unreadable = 0
        for token, v in self.subjects.items(partition):
            if token.startswith(ERASED_PREFIX):
                self._erasures[token] = v["at"]
                continue
            try:
                value = self.keys.unseal(base64.b64decode(v["sealed"])).decode()
            except Exception:
                unreadable += 1
                continue
            self.pseudonyms.learn(v["tenant"], Subject(v["label"], value), token, v["fingerprints"])
            self._sealed[token] = v["sealed"]
            self._partition[token] = partition
        log.info(
            "partition %d: %d pseudonyms restored, %d unreadable",
            partition,
            len(self.pseudonyms),
            unreadable,
        )

    def _erasure_key(self, tenant: str, subject: Subject) -> str:
        # the keyring's HMAC of the subject, as its data key's record on the keys topic
        # names it: a marker adds no way to find the subject that was not there already
        return f"{ERASED_PREFIX}{tenant}/{self.keys.subject_ref(tenant, str(subject))}"

    def _erased_since(self, tenant: str, subject: Subject, started: float) -> bool:
        if not self._erasures:
            return False
        at = self._erasures.get(self._erasure_key(tenant, subject))
        return at is not None and started <= at

    async def _persist(self, partition: int) -> None:
        dirty = self.pseudonyms.drain()
        new = [t for t in dirty if t not in self._sealed]
        if new:  # a new subject's data key is written to the keys topic: off the loop
            sealed = await asyncio.to_thread(self._seal, new)
            self._sealed.update(sealed)
        for token in dirty:
            found = self.pseudonyms.subject_of(token)
            sealed = self._sealed.get(token)
            if found is None or sealed is None:
                continue  # erased meanwhile
            tenant, subject = found
            self._partition[token] = partition
            fps = sorted(self.pseudonyms.fingerprints.get(token, ()))
            self.subjects.put(
                partition,
                token,
                {"tenant": tenant, "label": subject.label, "sealed": sealed, "fingerprints": fps},
            )

    def _seal(self, tokens: list[str]) -> dict[str, str]:
        out = {}
        for token in tokens:
            found = self.pseudonyms.subject_of(token)
            if found is not None:
                tenant, subject = found
                blob = self.keys.seal(tenant, subject.value.encode(), str(subject))
                out[token] = base64.b64encode(blob).decode()
        return out

    # --- the alert path (a hook of AlertRuntime.ingest_record) --------------------------
    async def apply(self, partition: int, alerts: list[Alert]) -> list[Alert]:
        """Alerts with tokens for personal values; new mappings staged with the batch."""
        await self.ensure(partition)
        out = self.pseudonyms.apply(alerts)
        if self.pseudonyms.dirty:
            await self._persist(partition)
        return out

    async def reveal(self, partition: int, raw: bytes) -> bytes:
        """A notification record with the values back (a hook of the channel senders)."""
        await self.ensure(partition)
        return self.pseudonyms.reveal_bytes(raw)

    # --- GDPR ---------------------------------------------------------------------------
    async def tokens(
        self, tenant: str, subject: Subject | None, runtime: AlertRuntime
    ) -> list[str]:
        """The subject's token (or every token of the tenant), the tenant's partition
        read back first if this worker has not needed it yet (every partition it owns
        when it has not seen the tenant since it started)."""
        known = runtime.partition_of.get(tenant)
        for partition in [known] if known is not None else sorted(runtime.loaded):
            await self.ensure(partition)
        return self.pseudonyms.tokens_of(tenant, subject)

    async def erase(self, partition: int, cmd: dict[str, Any], now: float) -> None:
        """``{"op": "gdpr.erase", "tenant": T, "tokens": [...]}`` (a subject's), or
        without ``tokens``: every subject of the tenant, and the tenant's own key."""
        tenant = cmd.get("tenant")
        if not isinstance(tenant, str) or not tenant:
            raise CommandError("gdpr.erase: tenant is required")
        await self.ensure(partition)
        tokens = cmd.get("tokens")
        whole = tokens is None
        if whole:
            tokens = self.pseudonyms.tokens_of(tenant)
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise CommandError("gdpr.erase: tokens must be a list of strings")
        erased: list[str] = []
        subjects: list[str] = []
        for token in tokens:
            found = self.pseudonyms.subject_of(token)
            if found is None or found[0] != tenant:
                continue  # unknown here, or another tenant's
            fps = sorted(self.pseudonyms.fingerprints.get(token, ()))
            self.pseudonyms.forget(token)
            stored = self._partition.pop(token, partition)
            self._sealed.pop(token, None)
            self.subjects.delete(stored, token)
            marker = self._erasure_key(tenant, found[1])  # a replay must not mint anew
            self.subjects.put(stored, marker, {"at": now})
            self._erasures[marker] = now
            for fp in fps:
                for key, _ in self.history.scan(stored, fp + "/"):
                    self.history.delete(stored, key)
            erased.append(token)
            subjects.append(str(found[1]))
        self.checkpoint.commit_batch()
        # tombstones on the keys topic: off the loop
        await asyncio.to_thread(self._shred, tenant, subjects, whole)
        self.erased += len(erased)
        log.info("gdpr: erased %d subjects of tenant %s", len(erased), tenant)
        for observe in self.on_erase:  # told the pseudonyms only: they name nobody now
            observe(tenant, erased, now)

    def _shred(self, tenant: str, subjects: list[str], whole: bool) -> None:
        for subject in subjects:
            self.keys.shred(tenant, subject)
        if whole:
            self.keys.shred(tenant)

    async def export(
        self, tenant: str, subject: Subject | None, runtime: AlertRuntime
    ) -> list[dict]:
        """What this worker holds about the subject (or every subject of the tenant),
        values revealed: the mapping, the live alerts and their history."""
        out = []
        live = {a.fingerprint: a for a in runtime.live_alerts() if a.tenant == tenant}
        for token in await self.tokens(tenant, subject, runtime):
            found = self.pseudonyms.subject_of(token)
            if found is None:
                continue
            fps = sorted(self.pseudonyms.fingerprints.get(token, ()))
            record = {
                "tenant": tenant,
                "subject": str(found[1]),
                "alerts": [live[fp].to_wire() for fp in fps if fp in live],
                "history": {fp: runtime.history(fp) for fp in fps},
            }
            revealed = orjson.loads(self.pseudonyms.reveal_bytes(orjson.dumps(record)))
            out.append({**revealed, "pseudonym": token})
        return out
