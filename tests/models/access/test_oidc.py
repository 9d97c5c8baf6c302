"""OIDC tokens checked against the policy and a key set served by a plain function:
signature, exp, nbf, aud, iss, refused algorithms, key rotation and its rate limit,
claims to roles and MFA."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from models.access.oidc import JwksCache, OidcError, OidcPolicy, OidcVerifier
from models.access.principal import Principal

ISSUER = "https://idp.test"
POLICY = OidcPolicy(
    issuer=ISSUER,
    audiences=("alertstream",),
    role_map={"sre": {"*": "responder"}, "team-a-admins": {"team-a": "admin"}},
    mfa_acr=frozenset({"urn:gold"}),
)


class Provider:
    """Signing keys by kid and the JWKS that publishes them; counts fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.fetches = 0
        self.rotate()

    def rotate(self) -> str:
        kid = f"k{len(self.keys)}"
        self.keys = {kid: ec.generate_private_key(ec.SECP256R1())}  # the old key is gone
        return kid

    @property
    def kid(self) -> str:
        return next(iter(self.keys))

    async def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        await asyncio.sleep(0.001)  # a fetch takes a while: other requests run meanwhile
        keys = []
        for kid, key in self.keys.items():
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})
        return {"keys": keys}

    def token(self, alg: str = "ES256", kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": "alertstream", "sub": "alice", "iat": now, "exp": now + 60}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(
            body, self.keys[self.kid], algorithm=alg, headers={"kid": kid or self.kid}
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def provider() -> Provider:
    return Provider()


def verifier_for(provider: Provider, clock: Clock | None = None) -> OidcVerifier:
    return OidcVerifier(POLICY, JwksCache(provider.jwks, min_refresh=60, clock=clock or Clock()))


async def test_valid_token_becomes_principal(provider: Provider) -> None:
    token = provider.token(groups=["sre", "team-a-admins", "other"], amr=["pwd", "otp"])
    principal = await verifier_for(provider).principal(token)
    assert principal == Principal(
        id="oidc:alice", roles={"*": "responder", "team-a": "admin"}, mfa=True
    )


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": -120}, "expired"),  # times: seconds from when the test runs
        ({"nbf": 120}, "not yet valid"),
        ({"aud": "someone-else"}, r"(?i)audience"),
        ({"iss": "https://evil.test"}, r"(?i)issuer"),
        ({"exp": None}, "exp"),
        ({"sub": None}, "sub"),
    ],
)
async def test_refused_claims(provider: Provider, claims: dict[str, Any], reason: str) -> None:
    now = int(time.time())  # not at collection: the suite may reach this test minutes later
    claims = {k: now + v if k in ("exp", "nbf") and v is not None else v for k, v in claims.items()}
    with pytest.raises(OidcError, match=reason):
        await verifier_for(provider).claims(provider.token(**claims))


async def test_leeway_accepts_small_clock_skew(provider: Provider) -> None:
    token = provider.token(exp=int(time.time()) - 5)
    assert (await verifier_for(provider).claims(token))["sub"] == "alice"


async def test_alg_none_and_hmac_with_public_key_refused(provider: Provider) -> None:
    verifier = verifier_for(provider)
    claims = {"iss": ISSUER, "aud": "alertstream", "sub": "mallory", "exp": time.time() + 60}
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": provider.kid})
    with pytest.raises(OidcError, match="'none' is not accepted"):
        await verifier.claims(unsigned)
    public_pem = (
        provider.keys[provider.kid]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    forged = _hs256({"kid": provider.kid, "alg": "HS256", "typ": "JWT"}, claims, public_pem)
    with pytest.raises(OidcError, match="'HS256' is not accepted"):
        await verifier.claims(forged)
    assert provider.fetches == 0  # refused before any key was looked up


def _hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """A JWT signed with HS256 and ``secret`` by hand (PyJWT refuses a PEM as HMAC key)."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def test_policy_refuses_symmetric_algorithms_and_unknown_roles() -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        OidcPolicy(issuer=ISSUER, audiences=("a",), algorithms=("RS256", "HS256"))
    with pytest.raises(ValueError, match="audience"):
        OidcPolicy(issuer=ISSUER, audiences=())
    with pytest.raises(ValueError, match="unknown roles"):
        OidcPolicy(issuer=ISSUER, audiences=("a",), role_map={"g": {"*": "root"}})


async def test_bad_signature_and_garbage(provider: Provider) -> None:
    verifier = verifier_for(provider)
    head, body, sig = provider.token().split(".")
    tampered = f"{head}.{body}.{sig[:-4]}AAAA"
    with pytest.raises(OidcError, match=r"(?i)signature"):
        await verifier.claims(tampered)
    with pytest.raises(OidcError, match="not a JWT"):
        await verifier.claims("eyJnot.a.jwt")


async def test_rotation_refetches_once_and_limits_refetches(provider: Provider) -> None:
    clock = Clock()
    verifier = verifier_for(provider, clock)
    await verifier.claims(provider.token())
    assert provider.fetches == 1
    await verifier.claims(provider.token())
    assert provider.fetches == 1  # cached
    clock.now += 61
    provider.rotate()
    assert (await verifier.claims(provider.token()))["sub"] == "alice"
    assert provider.fetches == 2  # the unknown kid made it read the set again
    # made-up kids within min_refresh do not reach the provider
    for n in range(5):
        with pytest.raises(OidcError, match="no signing key"):
            await verifier.claims(provider.token(kid=f"made-up-{n}"))
    assert provider.fetches == 2
    clock.now += 3600  # max_age: read again even for a known kid
    await verifier.claims(provider.token())
    assert provider.fetches == 3


async def test_provider_outage_keeps_known_keys(provider: Provider) -> None:
    clock = Clock()
    calls = []

    async def flaky() -> dict[str, Any]:
        calls.append(clock.now)
        if len(calls) > 1:
            raise OSError("connection refused")
        return await provider.jwks()

    verifier = OidcVerifier(POLICY, JwksCache(flaky, min_refresh=60, clock=clock))
    token = provider.token()
    await verifier.claims(token)
    clock.now += 3601
    assert (await verifier.claims(token))["sub"] == "alice"  # refresh failed, key kept
    provider.rotate()
    clock.now += 61
    with pytest.raises(OidcError, match="connection refused"):
        await verifier.claims(provider.token())


async def test_concurrent_requests_share_one_fetch(provider: Provider) -> None:
    clock = Clock()
    verifier = verifier_for(provider, clock)
    tokens = [provider.token() for _ in range(20)]
    claims = await asyncio.gather(*(verifier.claims(t) for t in tokens))
    assert [c["sub"] for c in claims] == ["alice"] * 20
    assert provider.fetches == 1
    clock.now += 61
    provider.rotate()  # many requests with the new kid at once: one fetch serves them all
    tokens = [provider.token() for _ in range(20)]
    claims = await asyncio.gather(*(verifier.claims(t) for t in tokens))
    assert [c["sub"] for c in claims] == ["alice"] * 20
    assert provider.fetches == 2


@pytest.mark.parametrize(
    ("claims", "mfa"),
    [
        ({"amr": ["pwd"]}, False),
        ({"amr": ["pwd", "hwk"]}, True),
        ({"amr": "mfa"}, True),
        ({"acr": "urn:gold"}, True),
        ({"acr": "urn:bronze"}, False),
        ({}, False),
    ],
)
def test_second_factor_from_amr_or_acr(claims: dict[str, Any], mfa: bool) -> None:
    assert POLICY.principal({"sub": "bob", **claims}).mfa is mfa


def test_highest_role_per_tenant_wins() -> None:
    policy = OidcPolicy(
        issuer=ISSUER,
        audiences=("a",),
        roles_claim="roles",
        role_map={
            "ops": {"t1": "viewer", "t2": "editor"},
            "leads": {"t1": "admin", "t2": "viewer"},
        },
    )
    assert policy.principal({"sub": "c", "roles": ["ops", "leads"]}).roles == {
        "t1": "admin",
        "t2": "editor",
    }
    assert policy.principal({"sub": "c", "roles": "nobody"}).roles == {}
    assert policy.principal({"sub": "c", "roles": 42}).roles == {}
