"""What one input record does to a partition's analytics state: pure, per batch.

The ``history`` topic tells the life of each alert (firing, resolved, notified to a
receiver on a route, escalated by a policy, acknowledged or acted on), and the receipts
tell whether notifications were delivered. ``Batch`` turns a record's events into
updates of the alert's episode and of the windows (``models/analytics/windows.py``) of
every dimension the alert has, reading state through ``get`` (the store, which sees
the batch's own staged writes) and caching what it touched, so a batch of a thousand
events reads and writes each window once. ``writes()`` is what to stage.

Keys (tenants quoted)::

    a/<tenant>/<fingerprint>           the alert's current episode (kept a flap window
                                       after it resolves, to see a refire as a flap)
    g/<tenant>/<group key>             fingerprints notified firing in the group, open
    e/<day>/<tenant>/<fp>/<fired at>   a finished episode (SLA reports, recommendations)

Ack and action events are written by ``agents/analytics.py`` from the commands it
sees applied; escalation events by the escalation agent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

from models.analytics.spec import AnalyticsSpec
from models.analytics.windows import DAY, RESOLUTIONS, Stats, window_key, window_start

Getter = Callable[[str], Any]
Scan = Callable[[str], Iterator[tuple[str, Any]]]

ESCALATED = {"sla_breach", "reassign", "exhausted"}  # escalation actions counted
DELIVERED, FAILED = ("delivered",), ("failed", "dead")


def alert_prefix(tenant: str) -> str:
    return f"a/{quote(tenant, safe='')}/"


def alert_key(tenant: str, fp: str) -> str:
    return alert_prefix(tenant) + fp


def group_key_of(tenant: str, group_key: str) -> str:
    return f"g/{quote(tenant, safe='')}/{group_key}"


def episode_prefix(day: int, tenant: str | None = None) -> str:
    out = f"e/{day:010d}/"
    return out if tenant is None else f"{out}{quote(tenant, safe='')}/"


def episode_key(tenant: str, fp: str, fired: float) -> str:
    return f"{episode_prefix(int(fired // DAY) * DAY, tenant)}{fp}/{fired:.3f}"


def episodes(scan: Scan, tenant: str, frm: float, to: float) -> list[dict[str, Any]]:
    """The tenant's alerts that fired in [frm, to): finished ones and those still open."""
    out = []
    day = int(frm // DAY) * DAY
    while day < to:
        out += [e for _, e in scan(episode_prefix(day, tenant)) if frm <= e["fired"] < to]
        day += DAY
    out += [
        e
        for _, e in scan(alert_prefix(tenant))
        if e.get("resolved") is None and frm <= e["fired"] < to
    ]
    return out


def route_of(group_key: str) -> str:
    """The route part of Alertmanager's group key ``{route key}:{group labels}``."""
    cut = group_key.find("}:{")
    return group_key[: cut + 1] if cut >= 0 else ""


def dimensions(st: dict[str, Any]) -> list[tuple[str, str]]:
    """The (dimension, value) pairs an alert's episode counts towards."""
    out = [("tenant", "")]
    for dim, field in (
        ("rule", "rule"),
        ("severity", "severity"),
        ("team", "team"),
        ("receiver", "receiver"),
        ("route", "route"),
        ("policy", "policy"),
    ):
        if st.get(field):
            out.append((dim, st[field]))
    return out


class Batch:
    def __init__(self, get: Getter, spec: AnalyticsSpec) -> None:
        self.get = get
        self.spec = spec
        self.cache: dict[str, Any] = {}  # key -> value (None: deleted)
        self.dirty: set[str] = set()
        self.windows: dict[str, Stats] = {}

    # --- state access ---------------------------------------------------------------------
    def _read(self, key: str) -> Any:
        if key not in self.cache:
            self.cache[key] = self.get(key)
        return self.cache[key]

    def _write(self, key: str, value: Any) -> None:
        self.cache[key] = value
        self.dirty.add(key)

    def _stats(self, res: str, at: float, tenant: str, dim: str, value: str) -> Stats:
        key = window_key(res, window_start(res, at), tenant, dim, value)
        s = self.windows.get(key)
        if s is None:
            raw = self.get(key)
            s = self.windows[key] = Stats() if raw is None else Stats.from_wire(raw)
        return s

    def _each(self, tenant: str, at: float, dims: Iterable[tuple[str, str]]) -> Iterable[Stats]:
        for dim, value in dims:
            for res in RESOLUTIONS:
                yield self._stats(res, at, tenant, dim, value)

    def count(
        self, tenant: str, at: float, dims: Iterable[tuple[str, str]], counter: str, n: int = 1
    ) -> None:
        for s in self._each(tenant, at, dims):
            s.add(counter, n)

    def writes(self) -> dict[str, Any]:
        """Key -> value to stage (None: delete)."""
        out = {k: self.cache[k] for k in self.dirty}
        out.update((k, s.to_wire()) for k, s in self.windows.items())
        return out

    # --- inputs ---------------------------------------------------------------------------
    def history(self, tenant: str, ev: dict[str, Any]) -> None:
        """One event of the ``history`` topic (unknown kinds are ignored)."""
        kind = ev.get("kind")
        at = float(ev.get("at") or 0.0)
        if kind == "alert":
            if ev.get("status") == "firing":
                self.fired(tenant, ev["fingerprint"], ev.get("labels") or {}, at)
            else:
                self.resolved(tenant, ev["fingerprint"], at)
        elif kind == "notification":
            self.notified(tenant, ev, at)
        elif kind == "escalation":
            self.escalation(tenant, ev, at)
        elif kind == "action":
            self.action(tenant, ev, at)

    def receipt(self, tenant: str, r: dict[str, Any], at: float) -> None:
        """One delivery verdict of ``notifications.receipts``; ``at``: its record time."""
        status = r.get("status")
        counter = "sent" if status in DELIVERED else "failed" if status in FAILED else None
        if counter is None:
            return
        dims = [("tenant", ""), ("receiver", str(r.get("receiver") or ""))]
        self.count(tenant, at, dims, counter)

    # --- alert life -----------------------------------------------------------------------
    def fired(self, tenant: str, fp: str, labels: dict[str, str], at: float) -> None:
        key = alert_key(tenant, fp)
        old = self._read(key)
        if old is not None and old.get("resolved") is None:
            return  # still firing: a repeat
        st = {
            "fp": fp,
            "fired": at,
            "rule": labels.get("alertname", ""),
            "severity": labels.get("severity", ""),
            "team": labels.get("team", ""),
        }
        dims = dimensions(st)
        if old is not None and at - old["resolved"] <= self.spec.flap_window:
            self.count(tenant, at, dims, "flaps")
        self._write(key, st)
        self.count(tenant, at, dims, "fired")

    def resolved(self, tenant: str, fp: str, at: float) -> None:
        key = alert_key(tenant, fp)
        st = self._read(key)
        if st is None or st.get("resolved") is not None:
            return
        st = {**st, "resolved": at}
        self._write(key, st)
        for s in self._each(tenant, at, dimensions(st)):
            s.add("resolved")
            s.ttr.add(at - st["fired"])
        self._write(episode_key(tenant, fp, st["fired"]), st)
        for gk in st.get("groups") or ():
            gkey = group_key_of(tenant, gk)
            members = [m for m in self._read(gkey) or [] if m != fp]
            self._write(gkey, members or None)

    def notified(self, tenant: str, ev: dict[str, Any], at: float) -> None:
        gk, receiver = str(ev.get("group_key") or ""), str(ev.get("receiver") or "")
        new = ev.get("new_firing") or []
        touched: list[dict[str, Any]] = []
        for fp in new:
            key = alert_key(tenant, fp)
            st = self._read(key)
            if st is None or st.get("resolved") is not None:
                continue
            touched.append(st)
            groups = st.get("groups") or []
            if gk in groups:
                continue
            gkey = group_key_of(tenant, gk)  # every group it is in: an ack of any covers it
            self._write(gkey, [*(self._read(gkey) or []), fp])
            st = {**st, "groups": [*groups, gk]}
            if not st.get("receiver"):  # the first route that notified it owns it
                st.update(receiver=receiver, route=route_of(gk), group_key=gk)
                self.count(tenant, at, [("receiver", receiver), ("route", st["route"])], "fired")
            self._write(key, st)
        if not touched:
            return
        dims = {("tenant", ""), ("receiver", receiver), ("route", route_of(gk))}
        for st in touched:
            dims.update(d for d in dimensions(st) if d[0] in ("rule", "team", "severity"))
        inside = self.spec.in_business_hours(tenant, touched[0].get("team", ""), at)
        self.count(
            tenant,
            at,
            sorted(dims),
            "interruptions_in_hours" if inside else "interruptions_out_of_hours",
        )

    def _members(self, tenant: str, ev: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The open alerts an escalation or action is about: its groups' and its own."""
        fps: list[str] = list(ev.get("fingerprints") or [])
        keys = ev.get("group_keys") or ([ev["group_key"]] if ev.get("group_key") else [])
        for gk in keys:
            fps.extend(self._read(group_key_of(tenant, gk)) or [])
        out = []
        for fp in dict.fromkeys(fps):
            key = alert_key(tenant, fp)
            st = self._read(key)
            if st is not None and st.get("resolved") is None:
                out.append((key, st))
        return out

    def escalation(self, tenant: str, ev: dict[str, Any], at: float) -> None:
        policy, action = str(ev.get("policy") or ""), ev.get("action")
        members = self._members(tenant, ev)
        for key, st in members:
            if policy and not st.get("policy"):
                self._write(key, {**st, "policy": policy})
        if action == "acknowledged":
            self.action(tenant, {**ev, "op": "ack"}, at)
            return
        stepped = action == "notify" and (ev.get("step") or 0) > 0
        if action not in ESCALATED and not stepped:
            return
        reason = "next_step" if stepped else str(ev.get("why") or action)
        dims = {("tenant", ""), ("policy", policy)}
        for _, st in members:
            dims.update(d for d in dimensions(st) if d[0] in ("rule", "team", "severity"))
        for s in self._each(tenant, at, sorted(dims)):
            s.add("escalated")
            s.reasons[reason] = s.reasons.get(reason, 0) + 1

    def action(self, tenant: str, ev: dict[str, Any], at: float) -> None:
        """An ack (the first one times the acknowledgement), a resolve or a silence by a
        person: each alert counts once as acted on."""
        ack = ev.get("op") == "ack"
        for key, st in self._members(tenant, ev):
            new = dict(st)
            if ack and st.get("acknowledged") is None:
                new["acknowledged"] = at
                for s in self._each(tenant, at, dimensions(st)):
                    s.add("acknowledged")
                    s.tta.add(at - st["fired"])
            if not st.get("acted"):
                new["acted"] = True
                self.count(tenant, at, dimensions(st), "acted")
            if new != st:
                self._write(key, new)
