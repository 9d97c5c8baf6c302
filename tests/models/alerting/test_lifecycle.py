"""AlertSet: the lazy expiry resolves exactly the firing alerts whose ends_at passed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from models.alerting.alert import FIRING, RESOLVED, Alert
from models.alerting.lifecycle import AlertSet


def _alert(host: int, ends_at: float, status: str = FIRING) -> Alert:
    return Alert(
        tenant="t",
        labels={"alertname": "Down", "instance": f"h{host}", "tenant": "t"},
        status=status,
        starts_at=1.0,
        ends_at=ends_at,
    )


# a step: (host, ends_at offset from the clock, resolve it?, advance the clock by)
steps = st.lists(
    st.tuples(
        st.integers(0, 7),
        st.floats(0.0, 5.0, allow_nan=False),
        st.booleans(),
        st.floats(0.0, 2.0, allow_nan=False),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_expire_resolves_exactly_what_is_due(ops: list[tuple[int, float, bool, float]]) -> None:
    alerts = AlertSet()
    now = 100.0
    for host, offset, resolve, advance in ops:
        status = RESOLVED if resolve else FIRING
        alerts.merge([_alert(host, now + offset, status)], now)
        now += advance
        due = {fp for fp, a in alerts.alerts.items() if a.status == FIRING and 0 < a.ends_at <= now}
        expired = alerts.expire(now)
        assert {a.fingerprint for a in expired} == due
        assert all(a.status == RESOLVED for a in expired)
    # later, nothing firing is left past its end
    alerts.expire(now + 10.0)
    assert not [a for a in alerts.alerts.values() if a.status == FIRING and a.ends_at <= now + 10]


def test_a_refreshed_alert_expires_at_its_new_end() -> None:
    alerts = AlertSet()
    alerts.merge([_alert(1, 110.0)], 100.0)
    alerts.merge([_alert(1, 130.5)], 105.0)  # re-sent: ends later
    assert alerts.expire(120.0) == []
    assert alerts.expire(130.2) == []  # the same second as its end, not yet past it
    assert [a.labels["instance"] for a in alerts.expire(130.5)] == ["h1"]
