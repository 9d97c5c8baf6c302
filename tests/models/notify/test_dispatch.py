"""Unit tests of the dispatcher: grouping, the notify decision with mutes (as
Alertmanager's MuteStage), and our additions: acknowledgement, resolved
notifications for muted alerts, send_resolved_immediately, flapping re-notify."""

from __future__ import annotations

from dataclasses import replace

from app.config.routing import RouteConfig
from models.alerting.alert import FIRING, RESOLVED, Alert
from models.notify.dispatch import Dispatcher, Integration
from models.notify.routing import build_routes

T0 = 1_000_000.0


def make(**kw):  # type: ignore[no-untyped-def]
    cfg = RouteConfig.model_validate(
        {
            "receiver": "ops",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "10s",
            "repeat_interval": "1h",
            "routes": [{"receiver": "db", "matchers": ['team="db"'], "continue": True}],
        }
    )
    store: dict[str, Alert] = {}

    def lookup(p: int, fp: str) -> Alert | None:
        return store.get(fp)

    d = Dispatcher(
        build_routes(cfg),
        lambda r: [Integration(r, "webhook", 0, True)],
        lookup=lookup,
        **kw,
    )
    return d, store, lookup


def alert(name: str, **labels: str) -> Alert:
    return Alert("t", {"alertname": name, "tenant": "t", **labels}, starts_at=T0)


def put(d, store, alerts, now):  # type: ignore[no-untyped-def]
    for a in alerts:
        store[a.fingerprint] = a
    d.add(alerts, 0, now)


def flush(d, lookup, now, muted=lambda labels, now: False):  # type: ignore[no-untyped-def]
    return d.flush(now, lookup, muted)


def test_groups_by_route_and_labels_with_am_group_keys():
    d, store, lookup = make()
    put(d, store, [alert("A", team="db"), alert("A", team="web"), alert("B")], T0)
    assert flush(d, lookup, T0 + 0.5) == []  # group_wait
    out = flush(d, lookup, T0 + 1)
    keys = sorted((n.receiver, n.group_key, len(n.alerts)) for n in out)
    assert keys == [
        ("db", '{}/{team="db"}:{alertname="A"}', 1),
        ("ops", '{}:{alertname="A"}', 1),  # continue on the last child: root not added
        ("ops", '{}:{alertname="B"}', 1),
    ]
    assert {n.reason for n in out} == {"first_notification"}


def test_silenced_resolved_alert_is_not_notified_like_alertmanager():
    d, store, lookup = make()
    a, b = alert("A", host="1"), alert("A", host="2")
    put(d, store, [a, b], T0)
    assert len(flush(d, lookup, T0 + 1)) == 1
    muted = lambda labels, now: labels.get("host") == "2"  # noqa: E731
    store[b.fingerprint] = replace(b, status=RESOLVED, ends_at=T0 + 5)
    d.add([store[b.fingerprint]], 0, T0 + 5)
    out = flush(d, lookup, T0 + 11, muted)
    # b is muted: neither its firing nor its resolved state reaches the receiver
    assert all(x["labels"]["host"] != "2" for n in out for x in n.alerts)


def test_send_resolved_for_muted_sends_the_resolution_of_a_notified_alert():
    d, store, lookup = make(send_resolved_for_muted=True)
    a, b = alert("A", host="1"), alert("A", host="2")
    put(d, store, [a, b], T0)
    [first] = flush(d, lookup, T0 + 1)
    assert len(first.alerts) == 2
    muted = lambda labels, now: labels.get("host") == "2"  # noqa: E731
    assert flush(d, lookup, T0 + 11, muted) == []  # silenced while firing: nothing new
    store[b.fingerprint] = replace(b, status=RESOLVED, ends_at=T0 + 15)
    d.add([store[b.fingerprint]], 0, T0 + 15)
    [n] = flush(d, lookup, T0 + 21, muted)
    assert n.reason == "new_resolved"
    assert [(x["labels"]["host"], x["status"]) for x in n.alerts] == [
        ("1", FIRING),
        ("2", RESOLVED),
    ]


def test_send_resolved_immediately_skips_group_interval():
    for immediately, due in ((False, T0 + 11), (True, T0 + 3)):
        d, store, lookup = make(send_resolved_immediately=immediately)
        a = alert("A")
        put(d, store, [a], T0)
        assert len(flush(d, lookup, T0 + 1)) == 1
        store[a.fingerprint] = replace(a, status=RESOLVED, ends_at=T0 + 3)
        d.add([store[a.fingerprint]], 0, T0 + 3)
        out = flush(d, lookup, T0 + 3)
        assert bool(out) == immediately
        out = out or flush(d, lookup, due)
        assert [n.reason for n in out] == ["all_resolved"]


def test_ack_stops_repeats_until_the_group_changes_or_it_expires():
    d, store, lookup = make()
    a = alert("A")
    put(d, store, [a], T0)
    assert len(flush(d, lookup, T0 + 1)) == 1
    assert d.acknowledge("t", '{}:{alertname="A"}', T0 + 7200) == 1
    assert d.dirty_nflog
    # repeat_interval (1h) passes: acked, no repeat
    quiet = [flush(d, lookup, T0 + 1 + 10 * i) for i in range(1, 500)]
    assert not any(quiet)
    # a new alert in the group notifies at once despite the ack
    put(d, store, [alert("A", host="2")], T0 + 5000)
    [n] = flush(d, lookup, T0 + 5011)
    assert n.reason == "new_alerts"
    # and that change cleared the ack: the repeat comes back after repeat_interval
    assert [x.reason for x in flush(d, lookup, T0 + 5011 + 3600 + 10)] == ["repeat_interval"]


def test_ack_expires():
    d, store, lookup = make()
    put(d, store, [alert("A")], T0)
    flush(d, lookup, T0 + 1)
    d.acknowledge("t", '{}:{alertname="A"}', T0 + 4000)
    assert flush(d, lookup, T0 + 3611) == []
    assert [n.reason for n in flush(d, lookup, T0 + 4001 + 10)] == ["repeat_interval"]


def test_forget_logged_firing_renotifies_once():
    d, store, lookup = make()
    a = alert("A")
    put(d, store, [a], T0)
    flush(d, lookup, T0 + 1)
    d.forget_logged_firing(0, {a.fingerprint})
    [n] = flush(d, lookup, T0 + 11)
    assert n.reason == "first_notification"
    assert flush(d, lookup, T0 + 21) == []
