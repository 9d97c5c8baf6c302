"""A group waits for its last notifications to settle, but not forever."""

from models.notify.inflight import InFlight


def test_a_group_is_busy_until_every_notification_settles():
    f = InFlight(max_wait=60)
    f.sent("g", ["a", "b"], now=0)
    assert f.busy("g", 1)
    f.settled("a")
    assert f.busy("g", 1)
    f.settled("b")
    assert not f.busy("g", 1)
    assert len(f) == 0


def test_a_newer_send_replaces_the_older_and_unknown_receipts_are_ignored():
    f = InFlight(max_wait=60)
    f.sent("g", ["a"], now=0)
    f.sent("g", ["b"], now=1)
    f.settled("a")  # the older one: no longer what holds the group
    f.settled("zzz")
    assert f.busy("g", 2)
    f.settled("b")
    assert not f.busy("g", 2)


def test_an_unsettled_group_is_let_go_after_max_wait():
    f = InFlight(max_wait=5)
    f.sent("g", ["a"], now=0)
    assert f.busy("g", 5)
    assert not f.busy("g", 5.1)
    assert len(f) == 0
