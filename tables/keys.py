"""Where the keys of envelope encryption live: the keyring (a file or the environment)
and the compacted ``keys`` topic of wrapped data keys.

* ``KeyringFile``: a JSON keyring at ``ALERTSTREAM_KEYRING`` (default: ``keyring.json``
  beside the pipelines file), created with mode 0600 on first use.  Every process that
  shares it re-reads it when it changes (``keys rotate`` writes a new one atomically,
  under a lock file, so two workers with a scheduled rotation add one KEK, not two).
* ``EnvKeyring``: the same document in ``ALERTSTREAM_KEYRING_JSON`` (for secret
  managers that inject variables); read-only: rotating means changing the variable and
  restarting the workers.
* ``KeysTopic``: the ``keys`` topic through confluent-kafka, for the worker (writes)
  and the CLI (writes, and reading the whole topic).  A write waits for the broker's
  acknowledgement: a data key is on the topic before anything is sealed under it.  The
  worker follows the topic with ``agents/keys.py``.

Plaintext data keys are kept only in memory (``DataProtection``'s cache), never on disk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from app.settings import Settings
from models.protection.keyring import DataProtection, Keyring, KeyringReadOnly
from tables.kafka_clients import TopicError, client_config, read_to_end
from tables.private_files import PrivateFileError, create_once, locked, write_private

log = logging.getLogger(__name__)

TOPIC = "keys"  # after the topic prefix; compacted, declared in app/faust_app.py
KEYRING_ENV = "ALERTSTREAM_KEYRING_JSON"
COMPACTED = {"cleanup.policy": "compact"}


KeyringError = PrivateFileError  # the keyring cannot be read or written (path and reason)


class KeyStoreError(TopicError):
    """The keys topic could not be written (reading it raises TopicError)."""


class KeyringFile:
    """A keyring in a file shared by every process of the pipeline."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None  # (inode, mtime ns, size) read
        self._keyring: Keyring | None = None

    def load(self) -> Keyring:
        if create_once(self.path, lambda: Keyring.new(time.time()).to_json()):
            log.warning("created the keyring %s (mode 0600)", self.path)
        st = self.path.stat()
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._keyring is None or seen != self._seen:
            self._keyring, self._seen = self._read(), seen
            if st.st_mode & 0o077:
                log.warning("keyring %s is readable by others (mode %o)", self.path, st.st_mode)
        return self._keyring

    def rotate(self, now: float, older_than: float | None = None) -> Keyring | None:
        with locked(self.path):
            current = self._read() if self.path.exists() else Keyring.new(now)
            if older_than is not None and now - current.current.created < older_than:
                return None
            rotated = current.rotated(now)
            write_private(self.path, rotated.to_json())
        return self.load()

    def retire(self, current: str) -> Keyring:
        with locked(self.path):
            keyring = self._read()
            if keyring.current.id != current:
                raise ValueError(f"{current} is no longer the current KEK: nothing retired")
            write_private(self.path, keyring.retired().to_json())
        return self.load()

    def _read(self) -> Keyring:
        try:
            return Keyring.from_json(self.path.read_bytes())
        except (OSError, ValueError) as exc:
            raise KeyringError(f"{self.path}: {exc}") from None


class EnvKeyring:
    """A keyring given in an environment variable: read-only."""

    def __init__(self, text: str) -> None:
        try:
            self._keyring = Keyring.from_json(text)
        except ValueError as exc:
            raise KeyringError(f"{KEYRING_ENV}: {exc}") from None

    def load(self) -> Keyring:
        return self._keyring

    def rotate(self, now: float, older_than: float | None = None) -> Keyring | None:
        raise self._read_only()

    def retire(self, current: str) -> Keyring:
        raise self._read_only()

    @staticmethod
    def _read_only() -> KeyringReadOnly:
        return KeyringReadOnly(
            f"the keyring comes from {KEYRING_ENV}: change it there, restart the workers, "
            "then run `alertstream keys rewrap`"
        )


def keyring_source(settings: Settings) -> KeyringFile | EnvKeyring:
    if settings.keyring_json:
        return EnvKeyring(settings.keyring_json)
    return KeyringFile(settings.keyring)


class KeysTopic:
    """The ``keys`` topic: wrapped data keys, one record per key, tombstone = shredded."""

    def __init__(self, settings: Settings, timeout: float = 30.0) -> None:
        self.topic = settings.topic_prefix + TOPIC
        self.partitions = settings.partitions
        self.timeout = timeout
        self._client = client_config(settings.broker, settings.broker_credentials)
        self._producer: Producer | None = None

    def publish(self, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        if self._producer is None:
            self._declare()
            self._producer = Producer({**self._client, "acks": "all", "linger.ms": 0})
        errors: list[str] = []

        def confirmed(err: KafkaError | None, _msg: object) -> None:
            if err is not None:
                errors.append(err.str())

        for key, value in records:
            self._producer.produce(self.topic, value, key, on_delivery=confirmed)
        if self._producer.flush(self.timeout) or errors:
            raise KeyStoreError(
                f"{self.topic}: {len(records)} key records not written: "
                f"{errors[0] if errors else 'no answer from the broker'}"
            )

    def read_all(self, apply: Callable[[bytes | None, bytes | None], Any]) -> int:
        """Every record of the topic, in order per partition, to the end; how many."""
        return read_to_end(self._client, self.topic, apply, self.timeout)

    def _declare(self) -> None:
        """Create the topic, compacted, if no worker has yet (a produce would have the
        broker create it with its defaults: not compacted)."""
        admin = AdminClient(self._client)
        topic = NewTopic(self.topic, self.partitions, replication_factor=-1, config=COMPACTED)
        for fut in admin.create_topics([topic]).values():
            try:
                fut.result(self.timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise KeyStoreError(f"{self.topic}: cannot create: {exc}") from exc


def worker_protection(settings: Settings) -> DataProtection:
    """The worker's DataProtection: the keyring is read (or created) on first use; the
    keys topic is fed to it by ``agents/keys.py``."""
    return DataProtection(keyring_source(settings), KeysTopic(settings))


def open_protection(settings: Settings, timeout: float = 30.0) -> DataProtection:
    """A DataProtection for a command: the keyring loaded and the whole keys topic read.
    KeyringError or TopicError when either cannot be."""
    protection = DataProtection(keyring_source(settings), KeysTopic(settings, timeout))
    protection.status()  # loads (or creates) the keyring now: its errors come first
    KeysTopic(settings, timeout).read_all(protection.apply)
    protection.ready = True
    return protection
