"""``access:`` in pipelines.yaml: who may call the worker's HTTP API (docs/security.md).

```yaml
access:
  users:                       # HTTP basic auth, for clients that speak nothing else
    - name: prometheus
      password_hash: scrypt$16384$8$1$...   # `alertstream hash-password`
      roles: {team-a: producer}             # tenant (or "*") -> role
  public_metrics: false        # /metrics without a credential
```
API tokens are not configured here: they are created at run time
(``alertstream token create``) and shared through the ``tokens`` topic.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.config.access_policy import (
    IpFilterConfig,
    MfaConfig,
    OidcConfig,
    RateLimitsConfig,
    SessionsConfig,
    check_networks,
)
from models.access.passwords import check_hash
from models.access.principal import Principal
from models.access.tokens import check_roles
from models.access.totp import check_secret


class BasicUserConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[^:]+$")  # basic auth cannot carry a ':'
    password_hash: str
    roles: dict[str, str]
    totp_secret: str | None = None  # base32; a second factor at POST /api/v1/login
    allow_from: list[str] = []  # CIDRs this user may call from (empty: anywhere)

    @field_validator("password_hash")
    @classmethod
    def _hash(cls, value: str) -> str:
        problem = check_hash(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: dict[str, str]) -> dict[str, str]:
        problems = check_roles(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("totp_secret")
    @classmethod
    def _totp(cls, value: str | None) -> str | None:
        problem = value and check_secret(value)
        if problem:
            raise ValueError(problem)
        return value

    _networks = field_validator("allow_from")(check_networks)

    def principal(self) -> Principal:
        return Principal(
            id=f"basic:{self.name}", roles=dict(self.roles), allow_from=tuple(self.allow_from)
        )


class AccessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[BasicUserConfig] = []
    public_metrics: bool = False
    oidc: OidcConfig | None = None  # bearer JWTs from an identity provider
    mfa: MfaConfig = MfaConfig()
    sessions: SessionsConfig = SessionsConfig()  # POST /api/v1/login
    ip_filter: IpFilterConfig = IpFilterConfig()
    rate_limits: RateLimitsConfig = RateLimitsConfig()

    @field_validator("users")
    @classmethod
    def _unique(cls, value: list[BasicUserConfig]) -> list[BasicUserConfig]:
        names = [u.name for u in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate user {', '.join(dupes)}")
        return value

    def configured(self) -> bool:
        """Whether any credential is configured here (tokens live on their topic)."""
        return bool(self.users) or self.oidc is not None
