"""The notify pipeline as a chain of small stages, after Alertmanager's ``notify.MultiStage``.

Every stage takes the batch of due groups (``GroupFlush``) and returns what goes on;
``build_pipeline`` lists them in order in one place.  Reading it tells the whole path:

    time intervals -> flapping -> mute (inhibition, silences) -> dedup (notification log)
    -> render -> log -> rate limit

The runtime sends what comes out and persists what the log and the dispatcher mark.
A group that did not change since its last flush, while no silence or inhibiting alert
changed either, is read from the previous flush's view: a large quiet group costs O(1).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Protocol

from models.alerting.alert import FIRING, Alert
from models.notify.dispatch import Group
from models.notify.nflog import NflogEntry, NotificationLog, decide
from models.notify.notification import Notification
from models.notify.routing import Route


@dataclass(frozen=True, slots=True)
class Integration:
    """One ``<channel>_configs`` entry of a receiver."""

    receiver: str
    channel: str
    index: int
    send_resolved: bool


@dataclass(slots=True)
class Send:
    """One integration's decision for one group flush."""

    integration: Integration
    log_key: str
    entry: NflogEntry | None
    firing: frozenset[str]  # fingerprints to log as notified firing
    resolved: frozenset[str]
    shown: list[Alert]  # what the notification carries ([]: log only)
    reason: str
    notification: Notification | None = None


@dataclass(slots=True)
class GroupFlush:
    group: Group
    route: Route
    members: list[Alert] = field(default_factory=list)  # by fingerprint
    firing: list[Alert] = field(default_factory=list)  # not muted
    resolved: list[Alert] = field(default_factory=list)  # not muted
    muted_firing: frozenset[str] = frozenset()
    muted_resolved: list[Alert] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    shown: bool = True  # False while the route's time intervals mute it


class Stage(Protocol):
    def process(self, flushes: list[GroupFlush], now: float) -> list[GroupFlush]: ...


class Muter(Protocol):
    """Silences and inhibition behind one answer, as Alertmanager's silencer and
    inhibitor share ``Mutes``; ``epoch`` names the state the answers depend on (None:
    do not reuse answers)."""

    def mutes(self, labels: dict[str, str], now: float) -> bool: ...

    def epoch(self, now: float) -> Hashable | None: ...


class MultiStage:
    def __init__(self, *stages: Stage) -> None:
        self.stages = stages

    def process(self, flushes: list[GroupFlush], now: float) -> list[GroupFlush]:
        for stage in self.stages:
            if not flushes:
                break
            flushes = stage.process(flushes, now)
        return flushes


class TimeIntervalStage:
    """A route outside its active time intervals, or inside a mute one, sends nothing
    (its resolved alerts wait in the group until it may)."""

    def __init__(self, route_muted: Callable[[Route, float], bool]) -> None:
        self.route_muted = route_muted

    def process(self, flushes: list[GroupFlush], now: float) -> list[GroupFlush]:
        out = []
        for f in flushes:
            if (f.route.mute_time_intervals or f.route.active_time_intervals) and (
                self.route_muted(f.route, now)
            ):
                f.shown = False
            else:
                out.append(f)
        return out


class FlapStage:
    """Our addition: an alert that flaps is shown as firing, marked, until stable."""

    def __init__(self, pinned: set[str]) -> None:
        self.pinned = pinned

    def process(self, flushes: list[GroupFlush], now: float) -> list[GroupFlush]:
        pinned = self.pinned
        if not pinned:
            return flushes
        for f in flushes:
            if any(fp in pinned for fp in f.group.members):
                f.group.view = None
                f.members = [
                    a if a.fingerprint not in pinned else _pinned(a)
                    for a in f.group.sorted_members()
                ]
        return flushes


def _pinned(alert: Alert) -> Alert:
    return alert.replace(
        status=FIRING,
        ends_at=0.0,
        annotations={**alert.annotations, "flapping": "true"},
    )


@dataclass(slots=True)
class _View:
    epoch: Hashable
    firing: list[Alert]
    resolved: list[Alert]
    muted_firing: frozenset[str]
    muted_resolved: list[Alert]


class MuteStage:
    """Alertmanager's MuteStage: firing and resolved alerts alike are filtered by the
    inhibitor and the silences. Answers are reused per alert, and a group's whole
    reading per group, while the muter's epoch holds."""

    def __init__(self, muter: Muter) -> None:
        self.muter = muter

    def process(self, flushes: list[GroupFlush], now: float) -> list[GroupFlush]:
        epoch = self.muter.epoch(now)
        mutes = self.muter.mutes
        for f in flushes:
            group = f.group
            view = group.view
            if (
                epoch is not None
                and not group.changed
                and not f.members
                and isinstance(view, _View)
                and view.epoch == epoch
            ):
                f.firing, f.resolved = view.firing, view.resolved
                f.muted_firing, f.muted_resolved = view.muted_firing, view.muted_resolved
                continue
            firing: list[Alert] = []
            resolved: list[Alert] = []
            muted_firing: list[str] = []
            muted_resolved: list[Alert] = []
            for a in f.members or group.sorted_members():
                if epoch is not None and a.mute_epoch == epoch:
                    muted = a.muted
                else:
                    muted = a.muted = mutes(a.labels, now)
                    a.mute_epoch = epoch
                if a.status == FIRING:
                    if muted:
                        muted_firing.append(a.fingerprint)
                    else:
                        firing.append(a)
                elif muted:
                    muted_resolved.append(a)
                else:
                    resolved.append(a)
            f.firing, f.resolved = firing, resolved
            f.muted_firing, f.muted_resolved = frozenset(muted_firing), muted_resolved
            group.changed = False
            group.view = (
                _View(epoch, firing, resolved, f.muted_firing, muted_resolved)
                if epoch is not None and not f.members
                else None
            )
        return flushes


_FINGERPRINT = attrgetter("fingerprint")


class DedupStage:
    """Alertmanager's DedupStage, per receiver integration: compare what the group shows
    now with what the notification log says was last sent (``nflog.decide``)."""

    def __init__(
        self,
        log: NotificationLog,
        integrations: Callable[[str, str], list[Integration]],
        *,
        send_resolved_for_muted: bool = False,
    ) -> None:
        self.log = log
        self.integrations = integrations
        # our addition (AM #226): an alert muted after it was notified firing stays
        # logged as firing, and gets its resolved notification
        self.send_resolved_for_muted = send_resolved_for_muted

    def process(self, flushes: list[GroupFlush], now: float) -> list[GroupFlush]:
        out = []
        for f in flushes:
            firing_fps = frozenset(map(_FINGERPRINT, f.firing))
            base_resolved = f.resolved
            for integ in self.integrations(f.group.tenant, f.route.receiver):
                key = NotificationLog.key(f.group.id, integ.receiver, integ.channel, integ.index)
                entry = self.log.get(key)
                resolved, logged_firing = base_resolved, firing_fps
                if self.send_resolved_for_muted and entry is not None:
                    if f.muted_firing:
                        logged_firing = firing_fps | (f.muted_firing & entry.firing)
                    if f.muted_resolved:
                        resolved = base_resolved + [
                            a for a in f.muted_resolved if a.fingerprint in entry.firing
                        ]
                resolved_fps = frozenset(map(_FINGERPRINT, resolved))
                reason = decide(
                    entry,
                    logged_firing,
                    resolved_fps,
                    send_resolved=integ.send_resolved,
                    repeat_interval=f.route.repeat_interval,
                    now=now,
                )
                if reason is None:
                    continue
                shown = f.firing + resolved if integ.send_resolved else f.firing
                f.sends.append(
                    Send(integ, key, entry, logged_firing, resolved_fps, shown, str(reason))
                )
            if f.sends:
                out.append(f)
        return out


class RenderStage:
    """Builds each notification from the alerts' cached webhook JSON. The same
    notification (same group state after the same log entry) always gets the same id,
    so a receiver can drop a resend after a crash."""

    def __init__(self, external_url: str) -> None:
        self.external_url = external_url

    def process(self, flushes: list[GroupFlush], now: float) -> list[GroupFlush]:
        for f in flushes:
            group = f.group
            for s in f.sends:
                if not s.shown:
                    continue
                previous = s.entry.timestamp if s.entry else 0.0
                digest = hashlib.sha256(s.log_key.encode())
                digest.update(_joined(s.firing, f.firing).encode())
                digest.update(b"|")
                digest.update(_joined(s.resolved, s.shown).encode())
                digest.update(f"|{previous}".encode())
                if s.entry is None:  # a group's first: its alerts' start tells incarnations apart
                    digest.update(f"|{min(a.starts_at for a in s.shown)}".encode())
                s.notification = Notification(
                    id=digest.hexdigest()[:32],
                    tenant=group.tenant,
                    receiver=s.integration.receiver,
                    channel=s.integration.channel,
                    integration=s.integration.index,
                    group_key=group.key,
                    group_labels=group.labels,
                    alerts=[a.rendered or a.webhook_json(now) for a in s.shown],
                    reason=s.reason,
                    external_url=self.external_url,
                    created_at=now,
                )
        return flushes


def _joined(fingerprints: frozenset[str], ordered: list[Alert]) -> str:
    """The fingerprints joined in sorted order; ``ordered`` (sorted by fingerprint)
    usually holds exactly them, which saves sorting a large group at every flush."""
    in_order = [a.fingerprint for a in ordered if a.fingerprint in fingerprints]
    if len(in_order) != len(fingerprints):
        in_order = sorted(fingerprints)
    return ",".join(in_order)


class LogStage:
    """Records every decision in the notification log. It runs before the send
    completes: at most once within the worker, and a crash in between re-sends the
    same notification id, which the sender's delivered table (and receivers) drop."""

    def __init__(self, log: NotificationLog) -> None:
        self.log = log

    def process(self, flushes: list[GroupFlush], now: float) -> list[GroupFlush]:
        for f in flushes:
            for s in f.sends:
                self.log.record(
                    f.group.partition,
                    s.log_key,
                    s.firing,
                    s.resolved,
                    now,
                    s.integration.send_resolved,
                )
        return flushes


class RateLimitStage:
    """Our addition: a tenant's notifications past ``max_per_minute`` are not sent;
    they are handed out as ``rejected`` (to dlq) and counted. They stay logged, so the
    group does not try again every interval."""

    def __init__(self, max_per_minute: int, stats: defaultdict[str, defaultdict[str, int]]):
        self.max_per_minute = max_per_minute
        self.stats = stats
        self._window: dict[str, list[float]] = {}  # tenant -> [window start, sent in it]
        self.rejected: list[Notification] = []

    def process(self, flushes: list[GroupFlush], now: float) -> list[GroupFlush]:
        cap = self.max_per_minute
        if not cap:
            return flushes
        for f in flushes:
            for s in f.sends:
                if s.notification is None:
                    continue
                tenant = f.group.tenant
                window = self._window.get(tenant)
                if window is None or now - window[0] >= 60.0:
                    window = self._window[tenant] = [now, 0]
                if window[1] >= cap:
                    self.stats[tenant]["notifications_rejected"] += 1
                    self.rejected.append(s.notification)
                    s.notification = None
                else:
                    window[1] += 1
        return flushes

    def drain(self) -> list[Notification]:
        out, self.rejected = self.rejected, []
        return out


def build_pipeline(
    *,
    route_muted: Callable[[Route, float], bool],
    flap_pinned: set[str],
    muter: Muter,
    log: NotificationLog,
    integrations: Callable[[str, str], list[Integration]],
    external_url: str,
    rate_limit: RateLimitStage,
    send_resolved_for_muted: bool = False,
) -> MultiStage:
    """The notify pipeline, in order."""
    return MultiStage(
        TimeIntervalStage(route_muted),
        FlapStage(flap_pinned),
        MuteStage(muter),
        DedupStage(log, integrations, send_resolved_for_muted=send_resolved_for_muted),
        RenderStage(external_url),
        LogStage(log),
        rate_limit,
    )


def notifications(flushes: list[GroupFlush]) -> list[Notification]:
    return [s.notification for f in flushes for s in f.sends if s.notification is not None]
