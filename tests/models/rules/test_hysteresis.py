"""Hysteresis on threshold rules: fire above the threshold, clear only below the clear one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config.rules import ThresholdRule
from models.rules.evaluator import RuleEvaluator
from models.rules.sample import Sample


def evaluator(**kw) -> RuleEvaluator:
    base = {"alert": "HighCpu", "metric": "cpu", "window": "10s", "condition": "> 90"}
    return RuleEvaluator([ThresholdRule.model_validate({**base, **kw}).to_spec()], idle_close=0)


def statuses(ev: RuleEvaluator, values: list[float]) -> list[str]:
    """One window per value; the status of each window's alert, '-' for none."""
    out = []
    for i, v in enumerate(values):
        ts = 1000.0 + 10 * i
        ev.add([Sample(tenant="t", name="cpu", labels={"host": "a"}, value=v, ts=ts + 1)], ts)
        alerts, _ = ev.close(ts + 12.5)
        out.append(alerts[0].status if alerts else "-")
    return out


HOVER = [95, 89, 91, 88, 92, 85, 79, 85, 91]


def test_without_clear_threshold_a_hovering_value_flaps():
    assert statuses(evaluator(), HOVER) == [
        "firing", "resolved", "firing", "resolved", "firing", "resolved", "-", "-", "firing",
    ]  # fmt: skip


def test_with_clear_threshold_it_holds_until_the_clear_threshold_is_crossed():
    assert statuses(evaluator(clear_threshold=80), HOVER) == [
        "firing", "firing", "firing", "firing", "firing", "firing", "resolved", "-", "firing",
    ]  # fmt: skip


def test_hysteresis_holds_a_pending_series_too():
    """With ``for: 30s`` a dip to the band between the thresholds does not restart it."""
    ev = evaluator(clear_threshold=80, **{"for": "30s"})
    assert statuses(ev, [95, 85, 86, 95, 70]) == ["-", "-", "firing", "firing", "resolved"]
    plain = evaluator(**{"for": "30s"})
    assert statuses(plain, [95, 85, 86, 95, 70]) == ["-", "-", "-", "-", "-"]


def test_below_conditions_clear_above():
    ev = evaluator(condition="< 10", clear_threshold=20)
    assert statuses(ev, [5, 15, 19, 21, 15]) == ["firing", "firing", "firing", "resolved", "-"]


@pytest.mark.parametrize(
    ("condition", "clear", "reason"),
    [
        ("> 90", 95, "must be at or below the threshold 90"),
        ("< 10", 5, "must be at or above the threshold 10"),
        ("== 1", 1, "not with =="),
        ("auto", 1, "only with a fixed condition"),
    ],
)
def test_a_clear_threshold_on_the_wrong_side_is_a_config_error(condition, clear, reason):
    with pytest.raises(ValidationError, match=reason):
        evaluator(condition=condition, clear_threshold=clear)
