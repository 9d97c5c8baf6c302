"""Pseudonyms for personal label values, so that erasing a person is forgetting one
mapping instead of rewriting append-only topics.

With ``data_protection.personal_labels: [user, email]`` configured, an alert's value of
such a label (``user="alice@x.org"``) is replaced, as the alert enters the alert path,
by a random token (``pii-3f9c0a...``), and so are the value's occurrences in its
annotations.  Everything downstream (tables, their changelogs, `history`, incidents,
notifications on their topics, escalations) holds only the token; the channel senders
put the value back just before delivery.  The mapping token -> value is kept sealed
under the subject's own data key (``agents/privacy.py``); erasure deletes it and
shreds that key, after which the tokens left in topics and tables name nobody.

Tokens are random, not derived from the value: no one holding a tenant key can
recompute a token from a guessed address.  One token per (tenant, label, value), so an
alert keeps its fingerprint while the mapping lives.

    >>> p = Pseudonyms(["user"], new_token=iter(["pii-0000000000000001"]).__next__)
    >>> p.token("acme", Subject("user", "alice"))
    'pii-0000000000000001'
    >>> p.reveal("hello pii-0000000000000001")
    'hello alice'
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from models.alerting.alert import Alert

TOKEN_RE = re.compile(r"pii-[0-9a-f]{16}")
_TOKEN_BYTES = re.compile(rb"pii-[0-9a-f]{16}")
MIN_ANNOTATION_MATCH = 3  # shorter values are not replaced inside annotation text
ERASED = "[erased]"  # what stands for an erased subject's value


def new_token() -> str:
    return "pii-" + secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Subject:
    """A data subject as a GDPR request names it: one label and its value."""

    label: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Subject:
        """``LABEL=VALUE``; raises ValueError saying what is wrong."""
        label, sep, value = text.partition("=")
        label, value = label.strip(), value.strip().strip('"')
        if not sep or not label or not value:
            raise ValueError(f"subject {text!r}: expected LABEL=VALUE, e.g. user=alice@x.org")
        return cls(label, value)

    def __str__(self) -> str:
        return f"{self.label}={self.value}"


class Pseudonyms:
    """Both directions of the mapping, for the partitions a worker owns, and the
    fingerprints each token has appeared under (so an export and an erasure find the
    subject's history after its alerts are gone)."""

    def __init__(
        self,
        labels: Iterable[str],
        new_token: Callable[[], str] = new_token,
        erased_since: Callable[[str, Subject, float], bool] | None = None,
    ) -> None:
        self.labels = frozenset(labels)
        self._new_token = new_token
        # whether (tenant, subject) was erased at or after an alert's start: such an
        # alert is one processed before the erasure, read again (a replay after a
        # crash): it gets ERASED, not a new pseudonym
        self._erased_since = erased_since
        self._tokens: dict[tuple[str, Subject], str] = {}
        self._subjects: dict[str, tuple[str, Subject]] = {}  # token -> (tenant, subject)
        self.fingerprints: dict[str, set[str]] = {}  # token -> fingerprints seen
        self.dirty: set[str] = set()  # tokens minted or grown since ``drain``

    def __len__(self) -> int:
        return len(self._subjects)

    # --- the mapping ---------------------------------------------------------------------
    def token(self, tenant: str, subject: Subject, started: float | None = None) -> str:
        """The subject's token in this tenant, minted on first sight (ERASED for an
        alert ``started`` before the subject's erasure)."""
        key = (tenant, subject)
        token = self._tokens.get(key)
        if token is None:
            erased = self._erased_since
            if started is not None and erased is not None and erased(tenant, subject, started):
                return ERASED
            token = self._new_token()
            self.learn(tenant, subject, token, ())
            self.dirty.add(token)
        return token

    def learn(self, tenant: str, subject: Subject, token: str, fingerprints: Iterable[str]) -> None:
        """A mapping read back from storage."""
        self._tokens[(tenant, subject)] = token
        self._subjects[token] = (tenant, subject)
        self.fingerprints.setdefault(token, set()).update(fingerprints)

    def subject_of(self, token: str) -> tuple[str, Subject] | None:
        return self._subjects.get(token)

    def tokens_of(self, tenant: str, subject: Subject | None = None) -> list[str]:
        """The subject's token (none if never seen), or every token of the tenant."""
        if subject is not None:
            token = self._tokens.get((tenant, subject))
            return [token] if token is not None else []
        return sorted(t for t, (ten, _) in self._subjects.items() if ten == tenant)

    def forget(self, token: str) -> tuple[str, Subject] | None:
        """Drop a mapping (erasure); returns what it mapped."""
        found = self._subjects.pop(token, None)
        if found is not None:
            del self._tokens[found]
            self.fingerprints.pop(token, None)
            self.dirty.discard(token)
        return found

    def drain(self) -> set[str]:
        """Tokens whose stored form must be written again."""
        dirty, self.dirty = self.dirty, set()
        return dirty

    # --- on the alert path ---------------------------------------------------------------
    def apply(self, alerts: list[Alert]) -> list[Alert]:
        """The alerts with personal label values (and their occurrences in annotations)
        replaced by tokens; an alert without personal labels is passed on as it is."""
        personal = self.labels
        out: list[Alert] = []
        for a in alerts:
            names = personal.intersection(a.labels)
            if not names:
                out.append(a)
                continue
            labels = dict(a.labels)
            annotations = a.annotations
            tokens = []
            changed = False
            for name in names:
                value = labels[name]
                if value == ERASED or TOKEN_RE.fullmatch(value):
                    continue  # already a token (an alert we sent round again)
                token = self.token(a.tenant, Subject(name, value), a.starts_at)
                labels[name] = token
                changed = True
                if token != ERASED:
                    tokens.append(token)
                if len(value) >= MIN_ANNOTATION_MATCH and any(
                    value in v for v in annotations.values()
                ):
                    annotations = {k: v.replace(value, token) for k, v in annotations.items()}
            if not changed:
                out.append(a)
                continue
            b = Alert(  # not Alert.replace: this is per alert, and it costs 3x
                a.tenant,
                labels,
                annotations,
                a.status,
                a.starts_at,
                a.ends_at,
                a.source,
                a.generator_url,
            )
            for token in tokens:
                seen = self.fingerprints[token]
                if b.fingerprint not in seen:
                    seen.add(b.fingerprint)
                    self.dirty.add(token)
            out.append(b)
        return out

    def reveal(self, text: str, erased: str = ERASED) -> str:
        """Tokens in ``text`` replaced by their values (unknown ones by ``erased``)."""
        return TOKEN_RE.sub(lambda m: self._value(m.group(0), erased), text)

    def reveal_bytes(self, raw: bytes, erased: str = ERASED) -> bytes:
        """``reveal`` for a record's JSON bytes (values JSON-escaped: they stand in strings)."""
        if b"pii-" not in raw:
            return raw
        return _TOKEN_BYTES.sub(
            lambda m: orjson.dumps(self._value(m.group(0).decode(), erased))[1:-1], raw
        )

    def _value(self, token: str, erased: str) -> str:
        found = self._subjects.get(token)
        return found[1].value if found is not None else erased
