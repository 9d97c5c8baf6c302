"""The permissions an HTTP view may require, and which role grants which.

Every view of the worker declares, per HTTP method, the one permission it needs
(``permissions = {"GET": READ, "POST": RESPOND}`` on the view class); the access
middleware refuses a request whose view declares none, so a new endpoint is closed
until someone decides who may call it.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    """What a request does, from least to most trusted."""

    PUBLIC = "public"  # no credential: /healthz, and /metrics when configured public
    READ = "read"  # alerts, groups, silences, history, incidents, schedules, analytics
    INGEST = "ingest"  # post alerts, samples and events (Prometheus, producers)
    RESPOND = "respond"  # ack, resolve, silence, escalation and incident actions
    EDIT = "edit"  # rules, routes, receivers, tenant config, remediation definitions
    ADMIN = "admin"  # tokens, tenants, keys, erasure, audit


READ = Permission.READ
INGEST = Permission.INGEST
RESPOND = Permission.RESPOND
EDIT = Permission.EDIT
ADMIN = Permission.ADMIN
PUBLIC = Permission.PUBLIC

ROLES: dict[str, frozenset[Permission]] = {
    "viewer": frozenset({READ}),
    "producer": frozenset({INGEST}),
    "responder": frozenset({READ, RESPOND}),
    "editor": frozenset({READ, INGEST, RESPOND, EDIT}),
    "admin": frozenset({READ, INGEST, RESPOND, EDIT, ADMIN}),
}


def grants(role: str, permission: Permission) -> bool:
    """Whether ``role`` may do what ``permission`` names (PUBLIC: anyone)."""
    return permission is PUBLIC or permission in ROLES.get(role, frozenset())
