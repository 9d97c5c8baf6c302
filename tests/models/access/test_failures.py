"""The failed-authentication window: an address waits exactly while ``limit`` of its
failures lie within the window, and no longer."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from models.access.failures import FailureWindow

quarters = st.integers(min_value=0, max_value=12).map(lambda n: n / 4)  # exact in binary
gaps = st.lists(quarters, max_size=30)


@given(gaps, st.integers(min_value=1, max_value=5), quarters)
def test_waits_while_limit_failures_are_in_the_window(
    steps: list[float], limit: int, later: float
) -> None:
    window = FailureWindow(limit=limit, window=2.0)
    times, now = [], 0.0
    for step in steps:
        now += step
        times.append(now)
        window.failed("a", now)
    now += later
    in_window = [t for t in times if t > now - 2.0]
    wait = window.wait("a", now)
    assert (wait > 0) == (len(in_window) >= limit)
    if wait:  # once it has waited, it may try again
        assert window.wait("a", now + wait) == 0.0
    assert window.wait("b", now) == 0.0  # another address is not slowed


def test_off_and_changed_limits_and_many_addresses() -> None:
    off = FailureWindow(limit=0, window=60.0)
    off.failed("a", 0.0)
    assert off.wait("a", 0.0) == 0.0 and not off.failures
    window = FailureWindow(limit=3, window=60.0, keep=4)
    for n in range(3):
        window.failed("a", float(n))
    assert window.wait("a", 2.0) == 58.0
    window.limit = 2  # a reload lowered it: the last two failures decide
    assert window.wait("a", 2.0) == 59.0
    window.failed("a", 3.0)
    assert list(window.failures["a"]) == [2.0, 3.0]
    for n in range(10):  # many addresses: memory stays bounded, the newest are kept
        window.failed(f"10.0.0.{n}", 100.0 + n)
    assert len(window.failures) <= 4 and "10.0.0.9" in window.failures
