import pytest

from models.notify.nflog import NflogEntry, Reason, decide, record, resolved_changed

NOW = 10_000.0
E = NflogEntry


def entry(firing=(), resolved=(), ts=NOW - 60, acked=0.0):
    return E(frozenset(firing), frozenset(resolved), ts, acked)


@pytest.mark.parametrize(
    ("prev", "firing", "resolved", "send_resolved", "expected"),
    [
        (None, {"a"}, set(), False, Reason.FIRST_NOTIFICATION),
        (None, set(), {"a"}, True, None),
        (entry({"a"}), {"a", "b"}, set(), False, Reason.NEW_ALERTS),
        (entry(set(), {"a"}), {"b"}, set(), False, Reason.FIRST_NOTIFICATION),
        (entry({"a"}), set(), {"a"}, False, Reason.ALL_RESOLVED),
        (entry({"a"}), set(), {"a"}, True, Reason.ALL_RESOLVED),
        (entry(set(), {"a"}), set(), {"a"}, True, None),
        (entry(set(), set()), set(), {"x"}, True, None),
        (entry({"a", "b"}), {"a"}, {"b"}, True, Reason.NEW_RESOLVED),
        (entry({"a", "b"}), {"a"}, {"b"}, False, None),
        (entry({"a", "b"}, {"b"}), {"a"}, {"b"}, True, None),
        (entry({"a"}), {"a"}, set(), False, None),
        (entry({"a"}, ts=NOW - 3601), {"a"}, set(), False, Reason.REPEAT_INTERVAL),
        (entry({"a"}, ts=NOW - 3600), {"a"}, set(), False, None),
        # acknowledgement suppresses repeats only
        (entry({"a"}, ts=NOW - 9999, acked=NOW + 1), {"a"}, set(), False, None),
        (entry({"a"}, ts=NOW - 9999, acked=NOW), {"a"}, set(), False, Reason.REPEAT_INTERVAL),
        (entry({"a"}, acked=NOW + 100), {"a", "b"}, set(), False, Reason.NEW_ALERTS),
        (entry({"a"}, acked=NOW + 100), set(), {"a"}, False, Reason.ALL_RESOLVED),
    ],
)
def test_decide(prev, firing, resolved, send_resolved, expected):
    got = decide(prev, firing, resolved, send_resolved=send_resolved, repeat_interval=3600, now=NOW)
    assert got == expected


def test_reason_strings():
    assert [r.value for r in Reason] == [
        "first_notification",
        "new_alerts",
        "all_resolved",
        "new_resolved",
        "repeat_interval",
    ]


def test_record_and_helpers():
    e = record(["a"], ["b"], NOW, send_resolved=False)
    assert e.resolved == frozenset() and e.acked_until == 0
    e = record(["a"], ["b"], NOW).acknowledge(NOW + 5)
    assert NflogEntry.from_dict(e.to_dict()) == e
    assert resolved_changed(e, ["b", "c"]) and not resolved_changed(e, ["b"])
    assert not resolved_changed(None, ["x"])
    assert decide(e, iter(["a"]), iter([]), send_resolved=True, repeat_interval=1, now=NOW) is None
