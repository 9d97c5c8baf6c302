"""A tenant's routing tree swapped at run time (``Dispatcher.set_routes``): its alerts
are routed again, a group that still exists keeps its timers, one that does not is
deleted, and other tenants' groups are untouched."""

from __future__ import annotations

from app.config.routing import RouteConfig
from models.alerting.alert import Alert
from models.notify.dispatch import Dispatcher
from models.notify.routing import build_routes

T0 = 1_000_000.0


def tree(receiver: str, **routes):  # type: ignore[no-untyped-def]
    cfg = {"receiver": receiver, "group_by": ["alertname"], "group_wait": "1s", **routes}
    return build_routes(RouteConfig.model_validate(cfg))


def alert(tenant: str, name: str) -> Alert:
    return Alert(tenant=tenant, labels={"alertname": name, "tenant": tenant}, starts_at=T0)


def test_a_swap_keeps_surviving_groups_and_moves_the_rest():
    d = Dispatcher(tree("ops"))
    a1, a2, b1 = alert("a", "X"), alert("a", "Y"), alert("b", "X")
    d.add([a1, a2, b1], 0, T0)
    assert len(d.due(T0 + 2)) == 3  # flushed once: timers now a group_interval ahead
    before = {gid: g.next_flush for gid, g in d.groups.items()}
    # tenant a: alerts named Y go to their own receiver now
    d.set_routes(
        "a",
        tree("ops", routes=[{"receiver": "team-y", "matchers": ['alertname="Y"']}]),
        [(0, a1), (0, a2), (0, b1)],
        T0 + 3,
    )
    receivers = {(g.tenant, d.route_of(g).receiver, tuple(g.members)) for g in d.groups.values()}
    assert receivers == {
        ("a", "ops", (a1.fingerprint,)),
        ("a", "team-y", (a2.fingerprint,)),
        ("b", "ops", (b1.fingerprint,)),
    }
    for gid, g in d.groups.items():
        if gid in before:  # a surviving group keeps its timer (and its log: same id)
            assert g.next_flush == before[gid]
    old_y = next(gid for gid in before if gid.startswith("a/") and "Y" in gid)
    assert old_y not in d.groups and d.deleted[old_y] == 0
    assert (a1.groups, a2.groups, b1.groups) == (1, 1, 1)
    # tenant b still routes with the default tree
    b2 = alert("b", "Y")
    d.add([b2], 0, T0 + 4)
    assert [d.route_of(g).receiver for g in d.groups_of(b2.fingerprint)] == ["ops"]
