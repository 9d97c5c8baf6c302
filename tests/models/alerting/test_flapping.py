from models.alerting.flapping import FLAPPING, STABLE, FlapConfig, FlapDetector


def feed(det, fp, statuses, start=0.0, step=10.0):
    events = []
    for i, s in enumerate(statuses):
        ev, sup = det.observe(fp, s, start + i * step)
        events.append((ev.kind if ev else None, sup))
    return events


def test_flapping_once_then_stable():
    det = FlapDetector(FlapConfig(threshold=3, window=100, stable_for=50))
    seq = ["firing", "resolved", "firing", "resolved", "firing", "resolved"]
    ev = feed(det, "x", seq)
    assert ev[:3] == [(None, False)] * 3
    assert ev[4] == (FLAPPING, True)  # 4th change within 100 s
    assert ev[5] == (None, True)  # reported once; further changes suppressed
    assert det.is_flapping("x")
    assert det.tick(80) == []  # last change at 50: not stable for 50 s yet
    out = det.tick(100)
    assert [(e.kind, e.status) for e in out] == [(STABLE, "resolved")]
    assert not det.is_flapping("x")


def test_slow_changes_do_not_flap():
    det = FlapDetector(FlapConfig(threshold=3, window=100, stable_for=50))
    ev = feed(det, "x", ["firing", "resolved"] * 5, step=40)
    assert all(e == (None, False) for e in ev)


def test_same_status_is_not_a_change_and_state_round_trip():
    det = FlapDetector(FlapConfig(threshold=1, window=100, stable_for=10))
    assert feed(det, "x", ["firing"] * 5) == [(None, False)] * 5
    feed(det, "y", ["firing", "resolved", "firing"])
    assert det.is_flapping("y")
    det2 = FlapDetector.from_dict(det.to_dict(), det.config)
    assert det2.is_flapping("y") and det2.state_of("y") == det.state_of("y")


def test_tick_forgets_quiet_resolved():
    det = FlapDetector(FlapConfig(threshold=5, window=100, stable_for=10))
    feed(det, "x", ["firing", "resolved"])
    det.tick(1000)
    assert len(det) == 0
