"""``priority:`` in pipelines.yaml: the table that gives every alert a priority P1-P5.

```yaml
priority:
  severity: {critical: P1, error: P2, warning: P3, info: P5}   # base by severity
  default: P4                                                   # any other severity
  adjust:                                                       # in order, then 1..5
    - matchers: ['tier="1"']
      by: -1                    # one level more urgent
    - matchers: ['env=~"dev|staging"']
      by: 2
```
The logic is ``models.alerting.priority``; without this section no label is added.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.config.routing import MatcherList
from models.alerting.priority import Adjustment, PriorityTable


def _level(value: Any) -> int:
    """``P2``, ``p2`` or ``2`` -> 2."""
    text = str(value).strip().upper().removeprefix("P")
    if not text.isdigit() or not 1 <= int(text) <= 5:
        raise ValueError(f"{value!r} is not a priority P1..P5")
    return int(text)


Level = Annotated[int, BeforeValidator(_level)]


class PriorityAdjustConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    matchers: MatcherList = Field(min_length=1)
    by: int = Field(ge=-4, le=4, description="levels to move; negative is more urgent")


class PriorityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field("priority", pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    severity: dict[str, Level] = {
        "critical": 1,
        "error": 2,
        "high": 2,
        "warning": 3,
        "medium": 3,
        "low": 4,
        "info": 5,
    }
    default: Level = 3
    adjust: list[PriorityAdjustConfig] = []

    def build(self) -> PriorityTable:
        return PriorityTable(
            self.severity,
            self.default,
            [Adjustment(tuple(a.matchers), a.by) for a in self.adjust],
            self.label,
        )
