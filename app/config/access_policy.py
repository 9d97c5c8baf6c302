"""The parts of ``access:`` beyond who the credentials are (docs/security.md):
OIDC, MFA, login sessions, IP filtering and request rate limits.

```yaml
access:
  oidc:
    issuer: https://login.example.com/realms/ops
    audience: [alertstream]
    roles_claim: groups                  # a string or list claim in the token
    roles: {sre: {"*": responder}, team-a-admins: {team-a: admin}}
  mfa: {roles: [admin]}                  # these roles only with a second factor
  sessions: {key: "${ALERTSTREAM_SESSION_KEY}", ttl: 15m}
  ip_filter: {allow: [10.0.0.0/8], deny: [10.66.0.0/16], trusted_proxies: [10.0.0.5]}
  rate_limits:
    credential: {rate: 20, burst: 100}   # requests per second per token, user or OIDC subject
    tenant: {rate: 100, burst: 500}
    address: {rate: 10, burst: 50}       # per client address, before authentication
    failed_auth: {limit: 10, window: 1m} # refused credentials per address (on by default)
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from channels.rate_limit import UNLIMITED, RateLimit
from models.access.failures import FailureWindow
from models.access.ip_filter import IpFilter, Networks
from models.access.mfa import MfaPolicy
from models.access.oidc import ASYMMETRIC, SECOND_FACTORS, OidcPolicy
from models.access.permissions import ROLES
from models.access.sessions import Sessions
from models.durations import Duration


def check_networks(value: list[str]) -> list[str]:
    """A pydantic field validator for a list of CIDR blocks."""
    Networks(value)  # ValueError names the bad block
    return value


class OidcConfig(BaseModel):
    """Bearer JWTs from an OpenID Connect provider. The keys come from ``jwks_url``, or
    from the ``jwks_uri`` of ``<issuer>/.well-known/openid-configuration``."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(min_length=1)
    audience: list[str] = Field(min_length=1)
    jwks_url: str | None = None
    algorithms: list[str] = ["RS256", "ES256"]
    roles_claim: str = "groups"
    roles: dict[str, dict[str, str]] = {}  # claim value -> {tenant or "*": role}
    mfa_amr: list[str] = sorted(SECOND_FACTORS)  # amr values that are a second factor
    mfa_acr: list[str] = []  # acr values that mean a second factor was used
    leeway: Duration = 30.0
    keys_min_refresh: Duration = 60.0  # an unknown kid re-reads the keys at most this often
    keys_max_age: Duration = 3600.0

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        refused = [a for a in value if a not in ASYMMETRIC]
        if refused:
            raise ValueError(
                f"{refused}: only asymmetric algorithms ({', '.join(sorted(ASYMMETRIC))})"
            )
        return value

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        bad = [
            f"{claim}.{tenant}: unknown role {role!r}"
            for claim, grants in value.items()
            for tenant, role in grants.items()
            if role not in ROLES
        ]
        if bad:
            raise ValueError(f"{'; '.join(bad)}; roles are {', '.join(ROLES)}")
        return value

    def policy(self) -> OidcPolicy:
        return OidcPolicy(
            issuer=self.issuer,
            audiences=tuple(self.audience),
            algorithms=tuple(self.algorithms),
            roles_claim=self.roles_claim,
            role_map=self.roles,
            mfa_amr=frozenset(self.mfa_amr),
            mfa_acr=frozenset(self.mfa_acr),
            leeway=self.leeway,
        )


class MfaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str] = []  # roles usable only with a second factor (OIDC amr/acr, TOTP login)

    @field_validator("roles")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown roles {unknown}; roles are {', '.join(ROLES)}")
        return value

    def policy(self) -> MfaPolicy:
        return MfaPolicy(frozenset(self.roles))


class SessionsConfig(BaseModel):
    """Tokens ``POST /api/v1/login`` issues. Every worker must have the same ``key`` to
    accept each other's sessions; without one each worker makes its own."""

    model_config = ConfigDict(extra="forbid")

    key: str = ""  # at least 32 characters; use ${VAR}
    ttl: Duration = 900.0

    @field_validator("key")
    @classmethod
    def _long(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("a session key needs at least 32 characters")
        return value

    def sessions(self) -> Sessions:
        return Sessions(self.key.encode(), self.ttl)


class IpFilterConfig(BaseModel):
    """Global allow/deny CIDR lists; ``deny`` wins, an empty ``allow`` allows all.
    ``X-Forwarded-For`` is read only from ``trusted_proxies``."""

    model_config = ConfigDict(extra="forbid")

    allow: list[str] = []
    deny: list[str] = []
    trusted_proxies: list[str] = []

    _check = field_validator("allow", "deny", "trusted_proxies")(check_networks)

    def filter(self) -> IpFilter:
        return IpFilter(Networks(self.allow), Networks(self.deny))

    def proxies(self) -> Networks:
        return Networks(self.trusted_proxies)


class RequestRate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float = Field(default=0.0, ge=0)  # requests per second; 0 = unlimited
    burst: float = Field(default=1.0, ge=1)

    def limit(self) -> RateLimit:
        return RateLimit(self.rate, self.burst) if self.rate else UNLIMITED


class FailedAuthConfig(BaseModel):
    """Refused credentials per client address: ``limit`` within ``window``, then 429
    until the oldest leaves the window (``models.access.failures``). Successful
    requests never count."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=10, ge=0)  # 0: off
    window: Duration = 60.0

    def failures(self) -> FailureWindow:
        return FailureWindow(self.limit, self.window)


class RateLimitsConfig(BaseModel):
    """Token buckets on the HTTP API (off by default): per client address before
    authentication (password and token guessing, login), then per credential and per
    tenant; and the failed authentications per address (on by default)."""

    model_config = ConfigDict(extra="forbid")

    credential: RequestRate = RequestRate()
    tenant: RequestRate = RequestRate()
    address: RequestRate = RequestRate()
    failed_auth: FailedAuthConfig = FailedAuthConfig()
