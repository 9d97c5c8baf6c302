"""Session tokens: what a local user's login (password and TOTP code) gives back.

A session token is a short-lived JWT signed (HS256) with the workers' shared session
key: any worker that has the key can check it without a lookup, and it says the user
showed a second factor (``mfa``).  It names the user, not their roles: the roles are
read from the configuration at every request, so removing a user or changing their
roles takes effect at once, not when the session ends.  HS256 is fine here because the
key never leaves the workers; OIDC tokens (``models.access.oidc``) never take this path.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from models.access.principal import CredentialRefused

ISSUER = "alertstream"  # the ``iss`` that routes a bearer JWT here rather than to OIDC
AUDIENCE = "alertstream-session"


class SessionError(CredentialRefused):
    """Why a session token was refused."""


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    mfa: bool
    expires: float  # epoch seconds


class Sessions:
    """Issues and checks session tokens with one key (32 random bytes if none is given:
    then only the worker that issued a token accepts it)."""

    def __init__(
        self,
        key: bytes | None = None,
        ttl: float = 900.0,
        clock: Callable[[], float] = time.time,
    ):
        self.key = key or secrets.token_bytes(32)
        self.ttl = ttl
        self.clock = clock

    def issue(self, user: str, mfa: bool) -> tuple[str, Session]:
        now = self.clock()
        session = Session(user, mfa, now + self.ttl)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user,
            "mfa": mfa,
            "iat": int(now),
            "exp": int(session.expires),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self.key, algorithm="HS256"), session

    def check(self, token: str) -> Session:
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "sub"], "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise SessionError(str(exc)) from exc
        return Session(claims["sub"], claims.get("mfa") is True, float(claims["exp"]))


def is_session(token: str) -> bool:
    """Whether a bearer JWT claims to be one of ours (unverified: only for routing)."""
    try:
        return jwt.decode(token, options={"verify_signature": False}).get("iss") == ISSUER
    except jwt.PyJWTError:
        return False
