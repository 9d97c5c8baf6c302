"""The ``action`` events of ``history``: what a person did to alerts through the
``commands`` topic, as the analytics tracker reads it (``tracker.Batch.action``).

An ack, resolve or silence of a group or an alert, and an ack or resolve of an incident
(its member alerts: an incident ack acknowledges its notification groups), each count
its alerts as acted on; an ack also times their acknowledgement.

    >>> cmd = {"op": "incident.ack", "tenant": "acme", "incident": "i1"}
    >>> tenant, event = action_event(cmd, lambda tenant, incident: ["fp1", "fp2"], 10.0)
    >>> tenant, event["op"], event["fingerprints"]
    ('acme', 'ack', ['fp1', 'fp2'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ACTED = {  # command op -> the action it is on the alerts it covers
    "ack": "ack",
    "resolve": "resolve",
    "silence": "silence",  # Slack's button: a silence of the group's alerts
    "incident.ack": "ack",
    "incident.resolve": "resolve",
}
Members = Callable[[str, str], list[str]]
"""(tenant, incident id) -> the fingerprints of its member alerts"""


def action_event(
    cmd: dict[str, Any], incident_members: Members, now: float
) -> tuple[str, dict[str, Any]] | None:
    """(tenant, the history event) for an applied command a person acts with, else None."""
    op = cmd.get("op") or cmd.get("action")
    tenant = cmd.get("tenant")
    action = ACTED.get(op) if isinstance(op, str) else None
    if action is None or not isinstance(tenant, str):
        return None
    event: dict[str, Any] = {
        "kind": "action",
        "op": action,
        "group_keys": [cmd["group_key"]] if cmd.get("group_key") else [],
        "fingerprints": [cmd["fingerprint"]] if cmd.get("fingerprint") else [],
        "user": str(cmd.get("user") or ""),
        "at": now,
    }
    if op.startswith("incident."):
        incident = str(cmd.get("incident") or "")
        event["fingerprints"] = incident_members(tenant, incident)
        event["incident"] = incident
        if not event["fingerprints"]:
            return None
    return tenant, event
