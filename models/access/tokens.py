"""API tokens: a random secret shown once, stored only as its SHA-256.

A token reads ``ast_<id>_<secret>``: the id (8 hex digits) finds the record without a
scan and names the token in lists and logs; the secret is 32 random bytes, so one
unsalted SHA-256 is enough (nobody can guess a 256-bit preimage; a slow hash only
protects low-entropy passwords). Records travel on the compacted ``tokens`` topic,
keyed by id; revoking writes a tombstone, so every worker forgets the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from models.access.ip_filter import Networks
from models.access.permissions import ROLES
from models.access.principal import CredentialRefused, Principal

PREFIX = "ast_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What the ``tokens`` topic keeps of a token: never the secret itself."""

    id: str
    sha256: str
    roles: dict[str, str]  # tenant (or "*") -> role
    name: str = ""
    created: float = 0.0
    expires: float | None = None  # epoch seconds; None: never
    allow_from: tuple[str, ...] = ()  # CIDRs the token may be used from (empty: any)

    def to_wire(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "sha256": self.sha256,
                "roles": self.roles,
                "name": self.name,
                "created": self.created,
                "expires": self.expires,
                "allow_from": self.allow_from,
            }
        )

    @classmethod
    def from_wire(cls, raw: bytes) -> TokenRecord:
        """A record as the topic holds it; ValueError names what is wrong."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise ValueError("expected a JSON object")
        problems = check_roles(obj.get("roles"))
        for key in ("id", "sha256"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                problems.append(f"{key}: required string")
        allow_from = obj.get("allow_from") or []
        try:
            Networks(allow_from)
        except (TypeError, ValueError) as exc:
            problems.append(f"allow_from: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        expires = obj.get("expires")
        return cls(
            id=obj["id"],
            sha256=obj["sha256"],
            roles=dict(obj["roles"]),
            name=str(obj.get("name") or ""),
            created=float(obj.get("created") or 0.0),
            expires=None if expires is None else float(expires),
            allow_from=tuple(allow_from),
        )

    def principal(self) -> Principal:
        return Principal(id=f"token:{self.id}", roles=dict(self.roles), allow_from=self.allow_from)


def check_roles(roles: Any) -> list[str]:
    """Why ``roles`` (tenant -> role) is not a valid grant, if it is not."""
    if not isinstance(roles, dict) or not roles:
        return ["roles: expected a mapping tenant -> role, at least one"]
    return [
        f"roles.{tenant}: unknown role {role!r}; one of {', '.join(ROLES)}"
        for tenant, role in roles.items()
        if role not in ROLES
    ]


def new_token(
    roles: dict[str, str],
    now: float,
    name: str = "",
    expires: float | None = None,
    allow_from: tuple[str, ...] = (),
) -> tuple[str, TokenRecord]:
    """A fresh token: (the secret to show once, the record to store)."""
    token_id = secrets.token_hex(4)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    record = TokenRecord(token_id, _digest(token), dict(roles), name, now, expires, allow_from)
    return token, record


class TokenStore:
    """Every token a worker knows, by id, as read from the ``tokens`` topic."""

    def __init__(self) -> None:
        self.records: dict[str, TokenRecord] = {}
        self.ready = False  # the topic has been read up to its end seen at start

    def apply(self, key: bytes | None, raw: bytes | None) -> None:
        """One record of the topic (a tombstone revokes); ValueError if it is bad."""
        if raw is None:
            if key is not None:
                self.records.pop(key.decode(), None)
            return
        record = TokenRecord.from_wire(raw)
        self.records[record.id] = record

    def authenticate(self, token: str, now: float) -> Principal | None:
        """The principal ``token`` stands for, None if unknown or revoked;
        CredentialRefused if it expired."""
        if not token.startswith(PREFIX):
            return None
        token_id = token[len(PREFIX) :].split("_", 1)[0]
        record = self.records.get(token_id)
        if record is None or not hmac.compare_digest(record.sha256, _digest(token)):
            return None
        if record.expires is not None and record.expires <= now:
            raise CredentialRefused(f"token {record.id} expired")
        return record.principal()
