"""Rule definitions: what `rules:` in pipelines.yaml may say."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.config.types import Duration
from models.window import AGGREGATES

_CONDITION = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$")
OPERATORS = (">", ">=", "<", "<=", "==", "!=")


def parse_condition(text: str) -> tuple[str, float]:
    m = _CONDITION.match(text)
    if not m:
        raise ValueError(
            f"{text!r} is not a condition such as '> 90' (operators: {', '.join(OPERATORS)})"
        )
    return m.group(1), float(m.group(2))


class ThresholdRule(BaseModel):
    """Fire when the aggregate of a metric over a tumbling window satisfies a condition."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    alert: str = Field(min_length=1)
    metric: str = Field(min_length=1)
    match: dict[str, str] = {}
    window: Duration = 60.0
    grace: Duration = 2.0
    aggregate: str = "avg"
    condition: str
    for_: Duration = Field(0.0, alias="for")
    severity: str = "warning"
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    kind: Literal["threshold"] = "threshold"

    @field_validator("aggregate")
    @classmethod
    def _aggregate(cls, v: str) -> str:
        if v not in AGGREGATES:
            raise ValueError(f"{v!r} is not one of {', '.join(AGGREGATES)}")
        return v

    @field_validator("condition")
    @classmethod
    def _condition(cls, v: str) -> str:
        parse_condition(v)
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("a window must be longer than 0s")
        return v

    @field_validator("annotations")
    @classmethod
    def _templates(cls, v: dict[str, str]) -> dict[str, str]:
        from models.templates import compile_template

        for key, source in v.items():
            try:
                compile_template(source)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return v

    @property
    def op_threshold(self) -> tuple[str, float]:
        return parse_condition(self.condition)
