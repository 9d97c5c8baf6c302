"""Which callers must have shown a second factor: those acting with a role that
requires MFA (``access.mfa.roles`` in the config).

The role that counts is the one the caller acts with on the request's tenant (its own
grant there, else its ``*`` grant); a request that names no tenant counts every role
the caller holds, so an admin of one tenant without MFA cannot reach the
tenant-less admin endpoints either.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.access.principal import Principal


@dataclass(frozen=True, slots=True)
class MfaPolicy:
    roles: frozenset[str] = frozenset()  # roles that may only be used with a second factor

    def missing(self, principal: Principal, tenant: str | None) -> str | None:
        """The role that needs a second factor ``principal`` did not show, else None."""
        if principal.mfa or not self.roles:
            return None
        if tenant is None:
            acting = set(principal.roles.values())
        else:
            role = principal.roles.get(tenant) or principal.roles.get("*")
            acting = {role} if role else set()
        needing = sorted(acting & self.roles)
        return needing[0] if needing else None
