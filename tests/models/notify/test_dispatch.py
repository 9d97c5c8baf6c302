"""Unit tests of the notify path built in memory, without Faust: grouping (the
dispatcher), then the stage chain (mutes as Alertmanager's MuteStage, dedup against the
notification log, render, log), and our additions: acknowledgement, resolved
notifications for muted alerts, send_resolved_immediately, flapping re-notify."""

from __future__ import annotations

from collections import defaultdict

import orjson

from app.config.routing import RouteConfig
from models.alerting.alert import FIRING, RESOLVED, Alert
from models.notify.dispatch import Dispatcher
from models.notify.nflog import NotificationLog
from models.notify.routing import build_routes
from models.notify.stages import (
    GroupFlush,
    Integration,
    RateLimitStage,
    build_pipeline,
    notifications,
)

T0 = 1_000_000.0
NEVER = lambda labels, now: False  # noqa: E731


class Muter:
    """Mutes by a function; the function is the epoch, so answers are reused until it
    changes (as the suppressor's epoch changes with silences and inhibiting alerts)."""

    def __init__(self) -> None:
        self.fn = NEVER
        self.calls = 0

    def mutes(self, labels, now):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self.fn(labels, now)

    def epoch(self, now):  # type: ignore[no-untyped-def]
        return id(self.fn)


class Path:
    """Dispatcher + notification log + the stage chain, as the runtime wires them."""

    def __init__(self, **kw) -> None:  # type: ignore[no-untyped-def]
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
        self.d = Dispatcher(
            build_routes(cfg), send_resolved_immediately=kw.get("send_resolved_immediately", False)
        )
        self.log = NotificationLog()
        self.muter = Muter()
        self.pinned: set[str] = set()
        self.pipeline = build_pipeline(
            route_muted=lambda route, now: False,
            flap_pinned=self.pinned,
            muter=self.muter,
            log=self.log,
            integrations=lambda tenant, r: [Integration(r, "webhook", 0, True)],
            external_url="",
            rate_limit=RateLimitStage(0, defaultdict(lambda: defaultdict(int))),
            send_resolved_for_muted=kw.get("send_resolved_for_muted", False),
        )
        self.store: dict[str, Alert] = {}

    def put(self, alerts, now):  # type: ignore[no-untyped-def]
        for a in alerts:
            self.store[a.fingerprint] = a
        self.d.add(alerts, 0, now)

    def resolve(self, a: Alert, at: float) -> Alert:
        r = a.replace(status=RESOLVED, ends_at=at)
        self.put([r], at)
        return r

    def flush(self, now, muted=None):  # type: ignore[no-untyped-def]
        if muted is not None:
            self.muter.fn = muted
        flushes = [GroupFlush(g, self.d.routes[g.route_id]) for g in self.d.due(now)]
        self.pipeline.process(flushes, now)
        for f in flushes:
            self.d.flushed(f.group, f.shown)
        out = notifications(flushes)
        for n in out:  # as a channel sees them after the topic
            n.alerts = orjson.loads(orjson.dumps(n.alerts))
        return out


def alert(name: str, **labels: str) -> Alert:
    return Alert("t", {"alertname": name, "tenant": "t", **labels}, starts_at=T0)


def test_groups_by_route_and_labels_with_am_group_keys():
    p = Path()
    p.put([alert("A", team="db"), alert("A", team="web"), alert("B")], T0)
    assert p.flush(T0 + 0.5) == []  # group_wait
    out = p.flush(T0 + 1)
    keys = sorted((n.receiver, n.group_key, len(n.alerts)) for n in out)
    assert keys == [
        ("db", '{}/{team="db"}:{alertname="A"}', 1),
        ("ops", '{}:{alertname="A"}', 1),  # continue on the last child: root not added
        ("ops", '{}:{alertname="B"}', 1),
    ]
    assert [n.reason for n in out] == ["first_notification"] * 3


def test_silenced_resolved_alert_is_not_notified_like_alertmanager():
    p = Path()
    a, b = alert("A", host="1"), alert("A", host="2")
    p.put([a, b], T0)
    assert len(p.flush(T0 + 1)) == 1
    p.resolve(b, T0 + 5)
    # b is muted: neither its firing nor its resolved state reaches the receiver
    assert p.flush(T0 + 11, lambda labels, now: labels.get("host") == "2") == []
    p.resolve(a, T0 + 12)
    [n] = p.flush(T0 + 21)
    assert n.reason == "all_resolved"
    assert [(x["labels"]["host"], x["status"]) for x in n.alerts] == [("1", RESOLVED)]


def test_send_resolved_for_muted_sends_the_resolution_of_a_notified_alert():
    p = Path(send_resolved_for_muted=True)
    a, b = alert("A", host="1"), alert("A", host="2")
    p.put([a, b], T0)
    [first] = p.flush(T0 + 1)
    assert len(first.alerts) == 2
    muted = lambda labels, now: labels.get("host") == "2"  # noqa: E731
    assert p.flush(T0 + 11, muted) == []  # silenced while firing: nothing new
    p.resolve(b, T0 + 15)
    [n] = p.flush(T0 + 21, muted)
    assert n.reason == "new_resolved"
    assert [(x["labels"]["host"], x["status"]) for x in n.alerts] == [
        ("1", FIRING),
        ("2", RESOLVED),
    ]


def test_send_resolved_immediately_skips_group_interval():
    for immediately, due in ((False, T0 + 11), (True, T0 + 3)):
        p = Path(send_resolved_immediately=immediately)
        a = alert("A")
        p.put([a], T0)
        assert len(p.flush(T0 + 1)) == 1
        p.resolve(a, T0 + 3)
        out = p.flush(T0 + 3)
        assert bool(out) == immediately
        out = out or p.flush(due)
        assert [n.reason for n in out] == ["all_resolved"]


def test_ack_stops_repeats_until_the_group_changes_or_it_expires():
    p = Path()
    p.put([alert("A")], T0)
    assert len(p.flush(T0 + 1)) == 1
    assert p.log.acknowledge("t", '{}:{alertname="A"}', T0 + 7200) == 1
    assert p.log.dirty
    # repeat_interval (1h) passes: acked, no repeat
    quiet = [p.flush(T0 + 1 + 10 * i) for i in range(1, 500)]
    assert not any(quiet)
    # a new alert in the group notifies at once despite the ack
    p.put([alert("A", host="2")], T0 + 5000)
    [n] = p.flush(T0 + 5011)
    assert n.reason == "new_alerts"
    # and that change cleared the ack: the repeat comes back after repeat_interval
    assert [x.reason for x in p.flush(T0 + 5011 + 3600 + 10)] == ["repeat_interval"]


def test_ack_expires():
    p = Path()
    p.put([alert("A")], T0)
    assert len(p.flush(T0 + 1)) == 1
    p.log.acknowledge("t", '{}:{alertname="A"}', T0 + 4000)
    assert p.flush(T0 + 3611) == []
    assert [n.reason for n in p.flush(T0 + 4001 + 10)] == ["repeat_interval"]


def test_forget_firing_renotifies_once():
    p = Path()
    a = alert("A")
    p.put([a], T0)
    assert len(p.flush(T0 + 1)) == 1
    p.log.forget_firing(0, {a.fingerprint})
    [n] = p.flush(T0 + 11)
    assert n.reason == "first_notification"
    assert p.flush(T0 + 21) == []


def test_a_flapping_alert_is_shown_firing_and_marked():
    p = Path()
    a = alert("A")
    p.put([a], T0)
    assert len(p.flush(T0 + 1)) == 1
    p.resolve(a, T0 + 2)
    p.pinned.add(a.fingerprint)  # what the runtime does when the alert starts flapping
    p.log.forget_firing(0, {a.fingerprint})
    [n] = p.flush(T0 + 11)
    [shown] = n.alerts
    assert (shown["status"], shown["annotations"]) == (FIRING, {"flapping": "true"})


def test_a_quiet_group_is_not_read_again_until_something_changes():
    p = Path()
    p.put([alert("A", host=str(i)) for i in range(100)], T0)
    [n] = p.flush(T0 + 1)
    assert len(n.alerts) == 100
    calls = p.muter.calls
    assert calls == 100
    assert all(p.flush(T0 + 1 + 10 * i) == [] for i in range(1, 50))
    assert p.muter.calls == calls  # 49 flushes of an unchanged group: no mute checks
    p.put([alert("A", host="new")], T0 + 600)
    [n] = p.flush(T0 + 611)
    assert (n.reason, len(n.alerts)) == ("new_alerts", 101)
    assert p.muter.calls == calls + 1  # only the new member was checked
    # a change of what mutes (a silence, an inhibiting alert) reads every member again
    out = p.flush(T0 + 621, lambda labels, now: labels["host"] == "7")
    assert out == []  # one alert muted: nothing new to tell
    assert p.muter.calls == calls + 1 + 101


def test_notification_ids_are_stable_and_change_with_the_group():
    ids = []
    for _ in range(2):
        p = Path()
        p.put([alert("A", host="1"), alert("A", host="2")], T0)
        [n] = p.flush(T0 + 1)
        p.put([alert("A", host="3")], T0 + 5)
        [m] = p.flush(T0 + 11)
        ids.append((n.id, m.id))
    assert ids[0] == ids[1]  # the same state after the same log entry: the same id
    assert ids[0][0] != ids[0][1]


def test_a_deleted_group_leaves_no_log_entry_and_starts_afresh():
    p = Path()
    a = alert("A")
    p.put([a], T0)
    assert len(p.flush(T0 + 1)) == 1
    p.resolve(a, T0 + 2)
    [n] = p.flush(T0 + 11)
    assert n.reason == "all_resolved"
    _, deleted = p.d.drain()
    gid = 't/{}/{}:{alertname="A"}'  # tenant/route id/group key
    assert list(deleted) == [gid]
    assert p.log.remove_group(gid) == [gid + "|ops|webhook|0"]
    assert len(p.log) == 0
    p.put([alert("A", host="2")], T0 + 20)
    [n] = p.flush(T0 + 21)
    assert n.reason == "first_notification"


def test_a_notification_too_large_for_a_record_is_cut_and_says_how_much():
    import orjson as _orjson

    from models.notify.notification import encode_bounded

    p = Path()
    p.put([alert("A", host=str(i), pad="x" * 200) for i in range(400)], T0)
    [n] = p.flush(T0 + 1)
    raw = encode_bounded(n, limit=20_000)
    doc = _orjson.loads(raw)
    assert len(raw) <= 20_000
    assert 0 < len(doc["alerts"]) < 400
    assert doc["truncated_alerts"] == 400 - len(doc["alerts"])
