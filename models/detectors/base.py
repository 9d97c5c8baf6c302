"""Common base for the streaming detectors: the verbs and an explicit, pickle-free serialiser.

Why a base: the pipeline keeps one model per series in a RocksDB table, so every detector
must round-trip through a small byte string that we control (orjson of plain numbers and
lists, tagged with the class name and a format version), and expose the same verbs as
River's anomaly detectors so agents can treat them uniformly.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, ClassVar, Self

import orjson

STATE_VERSION = 1


def finite(x: float) -> bool:
    """True for a real number that is neither NaN nor ±inf."""
    return isinstance(x, int | float) and math.isfinite(x)


class State:
    """Mixin: serialise `__slots__` (or `__dict__`) to plain JSON types and back.

    Nested `State` objects and deques are supported; non-finite floats are stored as
    strings so orjson does not turn them into null.
    """

    _registry: ClassVar[dict[str, type[State]]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        State._registry[cls.__name__] = cls

    def _fields(self) -> list[str]:
        names: list[str] = []
        for klass in type(self).__mro__:
            names.extend(getattr(klass, "__slots__", ()))
        if hasattr(self, "__dict__"):
            names.extend(self.__dict__)
        return names

    def to_state(self) -> dict[str, Any]:
        return {"_c": type(self).__name__, **{k: _enc(getattr(self, k)) for k in self._fields()}}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Any:
        klass = State._registry[d["_c"]]
        obj = klass.__new__(klass)
        for k, v in d.items():
            if k != "_c":
                setattr(obj, k, _dec(v))
        return obj


def _enc(v: Any) -> Any:
    if isinstance(v, State):
        return v.to_state()
    if isinstance(v, deque):
        return {"_dq": [_enc(x) for x in v], "m": v.maxlen}
    if isinstance(v, list | tuple):
        return [_enc(x) for x in v]
    if isinstance(v, dict):
        return {"_d": {str(k): _enc(x) for k, x in v.items()}}
    if isinstance(v, float) and not math.isfinite(v):
        return {"_f": repr(v)}
    return v


def _dec(v: Any) -> Any:
    if isinstance(v, list):
        return [_dec(x) for x in v]
    if isinstance(v, dict):
        if "_c" in v:
            return State.from_state(v)
        if "_dq" in v:
            return deque((_dec(x) for x in v["_dq"]), maxlen=v["m"])
        if "_f" in v:
            return float(v["_f"])
        if "_d" in v:
            return {k: _dec(x) for k, x in v["_d"].items()}
    return v


class Detector(State):
    """A univariate streaming anomaly detector with River's verbs.

    `score_one` must be computed from the past only (before `learn_one` of the same point)
    and return a value in [0, 1]; `learn_one` updates the state.
    """

    name: ClassVar[str] = "base"

    def score_one(self, value: float, ts: float) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def learn_one(self, value: float, ts: float) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def expected_range(self) -> tuple[float, float] | None:
        """Band of values the model currently considers normal, or None while warming up."""
        return None

    def to_bytes(self) -> bytes:
        return orjson.dumps({"v": STATE_VERSION, "s": self.to_state()})

    @classmethod
    def from_bytes(cls, b: bytes) -> Self:
        d = orjson.loads(b)
        if d.get("v") != STATE_VERSION:
            raise ValueError(f"unsupported detector state version {d.get('v')!r}")
        obj = State.from_state(d["s"])
        if not isinstance(obj, cls):
            raise TypeError(f"state holds {type(obj).__name__}, not {cls.__name__}")
        return obj


def clamp01(x: float) -> float:
    if x != x or x <= 0.0:  # NaN or negative
        return 0.0
    return 1.0 if x >= 1.0 else x
