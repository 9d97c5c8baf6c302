"""Which events an event rule looks at, and the key it groups them by.

An ``EventMatch`` is an event type (or several), Alertmanager label matchers over the
event's labels (``user=~"adm.*"``: the same ``Matcher`` routes and silences use) and
conditions on its fields (``bytes > 1000000``, ``country in [us, ca]``).  All must
hold.  A field path may name a nested value with dots (``http.status``).

``group_key(event, group_by)`` is the identity of the thing a rule counts per: label
names, or ``fields.<path>`` for a field (its label in the alert is the path with dots
as underscores).  A missing label or field groups as "", as a missing label matches
in Alertmanager.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.rules.event import Event
from models.rules.sample import LabelKey
from models.suppression.matchers import Matcher, MatcherError, compile_regex

FIELD_PREFIX = "fields."
_MISSING = object()
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
FIELD_OPS = ("eq", "ne", *_COMPARE, "in", "not_in", "regex")


def field_value(fields: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (``a.b`` is ``fields["a"]["b"]`` unless ``"a.b"`` is a key
    itself), or ``_MISSING``."""
    if path in fields:
        return fields[path]
    value: Any = fields
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def as_text(value: Any) -> str:
    """A field value as a label value: JSON's spelling of booleans, "" for null."""
    if value is None or value is _MISSING:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class FieldCondition:
    """``field op value``: eq, ne, gt, ge, lt, le (numbers), in, not_in (a list),
    regex (fully anchored, as label matchers; numbers are matched as their text).
    A missing field satisfies only ``ne`` and ``not_in``."""

    __slots__ = ("field", "op", "pattern", "value")

    def __init__(self, field: str, op: str, value: Any) -> None:
        if op not in FIELD_OPS:
            raise ValueError(f"{field}: unknown operator {op!r} (known: {', '.join(FIELD_OPS)})")
        if op in _COMPARE and _number(value) is None:
            raise ValueError(f"{field}: {op} needs a number, got {value!r}")
        if op in ("in", "not_in") and not isinstance(value, list | tuple):
            raise ValueError(f"{field}: {op} needs a list, got {value!r}")
        self.field = field
        self.op = op
        self.value = tuple(value) if isinstance(value, list) else value
        try:
            self.pattern = compile_regex(str(value)) if op == "regex" else None
        except MatcherError as exc:
            raise ValueError(f"{field}: {exc}") from None

    def holds(self, fields: Mapping[str, Any]) -> bool:
        v = field_value(fields, self.field)
        op = self.op
        if v is _MISSING:
            return op in ("ne", "not_in")
        if op == "eq":
            return v == self.value
        if op == "ne":
            return v != self.value
        if op == "in":
            return v in self.value
        if op == "not_in":
            return v not in self.value
        if op == "regex":
            return v is not None and self.pattern.fullmatch(as_text(v)) is not None  # type: ignore[union-attr]
        n = _number(v)
        return n is not None and _COMPARE[op](n, self.value)

    def __repr__(self) -> str:
        return f"FieldCondition({self.field!r}, {self.op!r}, {self.value!r})"


@dataclass(frozen=True, slots=True)
class EventMatch:
    """Event types (empty: any type), label matchers and field conditions, all ANDed."""

    types: frozenset[str] = frozenset()
    matchers: tuple[Matcher, ...] = ()
    conditions: tuple[FieldCondition, ...] = ()

    def matches(self, event: Event) -> bool:
        if self.types and event.type not in self.types:
            return False
        labels = event.labels
        if not all(m.matches(labels) for m in self.matchers):
            return False
        fields = event.fields
        return all(c.holds(fields) for c in self.conditions)


def group_label(name: str) -> str:
    """The alert label a ``group_by`` entry becomes."""
    return name.removeprefix(FIELD_PREFIX).replace(".", "_")


def group_key(event: Event, group_by: Sequence[str]) -> LabelKey:
    """The values of ``group_by`` in ``event``, as (alert label, value) pairs."""
    out = []
    for name in group_by:
        if name.startswith(FIELD_PREFIX):
            value = as_text(field_value(event.fields, name[len(FIELD_PREFIX) :]))
        else:
            value = event.labels.get(name, "")
        out.append((group_label(name), value))
    return tuple(out)


def value_of(event: Event, name: str) -> str | None:
    """A label or ``fields.<path>`` value of ``event`` as text, None when it is missing."""
    if name.startswith(FIELD_PREFIX):
        v = field_value(event.fields, name[len(FIELD_PREFIX) :])
        return None if v is _MISSING or v is None else as_text(v)
    return event.labels.get(name)


def types_of(matches: Iterable[EventMatch]) -> frozenset[str] | None:
    """The event types any of ``matches`` can see; None when one accepts every type."""
    out: set[str] = set()
    for m in matches:
        if not m.types:
            return None
        out |= m.types
    return frozenset(out)
