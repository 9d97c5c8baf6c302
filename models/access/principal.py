"""Who a request comes from, once its credential has been checked."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.access.permissions import Permission, grants


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: ``id`` names the credential (``token:ab12cd``,
    ``basic:prometheus``, ``oidc:<sub>``) and is what the audit log records; ``roles``
    maps a tenant (or ``*``, every tenant) to the role granted there."""

    id: str
    roles: dict[str, str] = field(default_factory=dict)
    mfa: bool = False  # the credential showed a second factor
    allow_from: tuple[str, ...] = ()  # CIDRs the credential may be used from (empty: any)

    def may(self, permission: Permission, tenant: str | None) -> bool:
        """Whether this caller may do ``permission`` on ``tenant`` (None: on some tenant)."""
        if tenant is None:
            return any(grants(role, permission) for role in self.roles.values())
        role = self.roles.get(tenant) or self.roles.get("*")
        return role is not None and grants(role, permission)

    def tenants(self) -> list[str] | None:
        """The tenants this caller is bound to, None when it holds ``*``."""
        return None if "*" in self.roles else sorted(self.roles)


class CredentialRefused(Exception):
    """A credential of an authenticator's kind that it refuses; the message says why
    (expired, wrong audience, unknown key) and is safe to show the caller."""
