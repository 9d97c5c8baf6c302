"""OIDC bearer tokens: a JWT from the user's identity provider becomes a Principal.

The provider signs with a private key and publishes the public keys as a JWKS; we
keep them in a cache (``JwksCache``) that is read again when a token names a key id
we do not know (the provider rotated), but at most once per ``min_refresh`` so that
tokens with made-up key ids cannot make us hammer the provider.  Only asymmetric
algorithms are ever accepted: ``alg: none`` and ``HS256`` signed with the *public*
key (the classic confusion attack) are refused before any key is looked up.

The HTTP fetch itself is given to the cache as an async callable, so this module stays
free of I/O and the tests drive rotation with a plain function.

    policy = OidcPolicy(issuer="https://idp.example", audiences=("alertstream",),
                        role_map={"sre": {"*": "responder"}})
    verifier = OidcVerifier(policy, JwksCache(fetch_jwks))
    await verifier.principal(token)  # Principal("oidc:alice", {"*": "responder"}, mfa=True)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from models.access.permissions import ROLES
from models.access.principal import CredentialRefused, Principal

# RFC 7518 signature algorithms with a public verification key (PyJWT's names).
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# RFC 8176 authentication methods that are a factor beyond the password.
SECOND_FACTORS = frozenset(
    {"mfa", "otp", "hwk", "swk", "sms", "tel", "sc", "fpt", "face", "iris", "retina", "vbm"}
)
# When two claim values grant different roles on one tenant, the higher one holds.
RANK = {role: n for n, role in enumerate(("producer", "viewer", "responder", "editor", "admin"))}

Fetch = Callable[[], Awaitable[Mapping[str, Any]]]


class OidcError(CredentialRefused):
    """Why a bearer JWT was refused (the message is safe to show the caller)."""


@dataclass(frozen=True)
class OidcPolicy:
    """What a token must say to be accepted, and how its claims map to roles.

    ``role_map`` maps a value of the ``roles_claim`` claim (a group, say) to the role it
    grants per tenant (``*``: every tenant)."""

    issuer: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    roles_claim: str = "groups"
    role_map: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    mfa_amr: frozenset[str] = SECOND_FACTORS
    mfa_acr: frozenset[str] = frozenset()
    leeway: float = 30.0  # seconds of clock skew allowed on exp and nbf

    def __post_init__(self) -> None:
        refused = sorted(set(self.algorithms) - ASYMMETRIC)
        if refused:
            raise ValueError(f"only asymmetric algorithms may verify OIDC tokens: {refused}")
        if not self.audiences:
            raise ValueError("an OIDC policy needs at least one audience")
        unknown = sorted({r for m in self.role_map.values() for r in m.values()} - set(ROLES))
        if unknown:
            raise ValueError(f"unknown roles in the OIDC role map: {unknown}")

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        """The caller a verified token's claims describe: ``oidc:<sub>``, the roles its
        ``roles_claim`` values map to, and whether ``amr``/``acr`` show a second factor."""
        roles: dict[str, str] = {}
        for value in _strings(claims.get(self.roles_claim)):
            for tenant, role in self.role_map.get(value, {}).items():
                if RANK[role] > RANK.get(roles.get(tenant, ""), -1):
                    roles[tenant] = role
        amr = set(_strings(claims.get("amr")))
        mfa = bool(amr & self.mfa_amr) or claims.get("acr") in self.mfa_acr
        return Principal(id=f"oidc:{claims['sub']}", roles=roles, mfa=mfa)


def _strings(value: Any) -> list[str]:
    """A claim that is a string or a list of strings, as a list (else empty)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


class JwksCache:
    """The provider's public keys by key id, fetched when first needed, again after
    ``max_age``, and on an unknown key id no more often than ``min_refresh``.  One fetch
    at a time: concurrent requests wait for the fetch in flight instead of starting theirs."""

    def __init__(
        self,
        fetch: Fetch,
        min_refresh: float = 60.0,
        max_age: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.fetch = fetch
        self.min_refresh = min_refresh
        self.max_age = max_age
        self.clock = clock
        self.keys: dict[str | None, dict[str, Any]] = {}
        self.fetched_at: float | None = None  # when the last fetch was tried
        self.fetches = 0  # fetches tried: how a waiter sees that another one fetched
        self.error: str | None = None  # why the last fetch failed
        self._lock = asyncio.Lock()

    async def jwk(self, kid: str | None) -> dict[str, Any]:
        """The JWK (a dict) for ``kid``; raises OidcError if the provider has none."""
        if self.fetched_at is None or self.clock() - self.fetched_at >= self.max_age:
            await self._refresh(force=True)
        found = self._find(kid)
        if found is None and await self._refresh(force=False):
            found = self._find(kid)
        if found is None:
            why = f" ({self.error})" if self.error else ""
            raise OidcError(f"no signing key {kid!r} at the identity provider{why}")
        return found

    def _find(self, kid: str | None) -> dict[str, Any] | None:
        if kid is None and len(self.keys) == 1:  # a provider with one key may omit kid
            return next(iter(self.keys.values()))
        return self.keys.get(kid)

    async def _refresh(self, force: bool) -> bool:
        """Fetch the key set unless one was fetched too recently; whether it was read."""
        seen = self.fetches
        async with self._lock:
            if self.fetches != seen:  # a fetch ended while this request waited: use it
                return True
            now = self.clock()
            recent = self.fetched_at is not None and now - self.fetched_at < self.min_refresh
            if recent and not force:
                return False
            try:
                document = await self.fetch()
            except Exception as exc:  # keep the keys we had: an outage is not a rotation
                self.error = f"its keys could not be read: {exc!r}"
                return False
            else:
                self.error = None
                self.keys = _signing_keys(document.get("keys"))
                return True
            finally:
                self.fetched_at = now
                self.fetches += 1


def _signing_keys(keys: Any) -> dict[str | None, dict[str, Any]]:
    """The JWKS members that can verify a signature: public, not for encryption."""
    found: dict[str | None, dict[str, Any]] = {}
    for key in keys if isinstance(keys, list) else []:
        public = isinstance(key, dict) and key.get("kty") in {"RSA", "EC", "OKP"}
        if public and key.get("use", "sig") == "sig":
            found[key.get("kid")] = key
    return found


class OidcVerifier:
    """Checks a bearer JWT (signature, ``exp``, ``nbf``, ``aud``, ``iss``) against the
    policy and the provider's keys, and returns the Principal its claims describe."""

    def __init__(self, policy: OidcPolicy, keys: JwksCache):
        self.policy = policy
        self.keys = keys

    async def principal(self, token: str) -> Principal:
        return self.policy.principal(await self.claims(token))

    async def claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise OidcError(f"not a JWT: {exc}") from exc
        alg = header.get("alg")
        if alg not in self.policy.algorithms:
            raise OidcError(f"algorithm {alg!r} is not accepted")
        jwk = await self.keys.jwk(header.get("kid"))
        if jwk.get("alg", alg) != alg:
            raise OidcError(f"key {header.get('kid')!r} is for {jwk['alg']}, not {alg}")
        try:
            key = jwt.PyJWK(jwk, alg)
            return jwt.decode(
                token,
                key,
                algorithms=list(self.policy.algorithms),
                audience=list(self.policy.audiences),
                issuer=self.policy.issuer,
                leeway=self.policy.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise OidcError(str(exc)) from exc


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer credential has a JWT's shape (three dot-separated parts), so the
    authenticator knows to verify it as one rather than look it up as an API token."""
    return token.count(".") == 2 and token.startswith("eyJ")
