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

from models.access.passwords import check_hash
from models.access.principal import Principal
from models.access.tokens import check_roles


class BasicUserConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[^:]+$")  # basic auth cannot carry a ':'
    password_hash: str
    roles: dict[str, str]

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

    def principal(self) -> Principal:
        return Principal(id=f"basic:{self.name}", roles=dict(self.roles))


class AccessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[BasicUserConfig] = []
    public_metrics: bool = False

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
        return bool(self.users)
