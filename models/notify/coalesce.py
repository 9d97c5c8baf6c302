"""Coalescing a backlog of notifications: a newer notification of the same group that
carries every alert an older one carried supersedes it.

Alertmanager's notifications carry the whole group, so under a backlog (a storm, a
slow receiver) the older of two waiting notifications of a group tells the receiver
nothing the newer does not, as long as every alert of the older is in the newer: the
newer shows each in its current state. One whose alert is missing from the newer (an
alert shown resolved, then gone from the group) is still sent.

Only the envelope of a notification record is decoded to decide (msgspec skips the
rest at C speed), so a superseded notification is never decoded in full.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec


class AlertRef(msgspec.Struct):
    fingerprint: str


class Envelope(msgspec.Struct):
    """What coalescing reads of a notification on the wire."""

    id: str
    tenant: str
    receiver: str
    channel: str
    integration: int
    group_key: str
    alerts: list[AlertRef]


_ENVELOPES = msgspec.json.Decoder(list[Envelope])


def envelopes(raw: bytes) -> list[Envelope]:
    """The envelopes of one notifications record (raises msgspec.DecodeError)."""
    return _ENVELOPES.decode(raw)


def superseded(notifications: Sequence[Envelope]) -> dict[str, str]:
    """``{older id: newer id}`` for each notification that a later one in the sequence
    (same tenant, receiver, integration and group) supersedes."""
    latest: dict[tuple[str, str, str, int, str], tuple[str, set[str]]] = {}
    out: dict[str, str] = {}
    for n in reversed(notifications):
        key = (n.tenant, n.receiver, n.channel, n.integration, n.group_key)
        fps = {a.fingerprint for a in n.alerts}
        newer = latest.get(key)
        if newer is not None and fps <= newer[1]:
            out[n.id] = newer[0]
        else:
            latest[key] = (n.id, fps)
    return out
