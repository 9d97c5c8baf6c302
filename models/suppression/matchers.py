"""Label matchers with Prometheus Alertmanager's semantics (``pkg/labels``).

A matcher is ``name op value`` with op one of ``=``, ``!=``, ``=~``, ``!~``.  Regular
expressions are fully anchored, as Alertmanager compiles them (``^(?:value)$``); a
label missing from the set compares as the empty string.

Three ways in:

* ``parse_matcher('foo=~"a|b"')`` / ``parse_matchers('{a="b", c!="d"}')``: the config
  and amtool syntax (Alertmanager's classic parser, plus double-quoted label names
  of the UTF-8 syntax); errors read as Alertmanager's (``bad matcher format: ...``).
* ``Matcher.from_api({"name", "value", "isRegex", "isEqual"})``: API v2 JSON.
* ``Matcher(name, op, value)``.

Matching costs one dict lookup and a string compare; regex results are cached per
matcher by value (like Alertmanager's ``sync.Map`` cache), bounded in size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

EQ, NE, RE, NRE = "=", "!=", "=~", "!~"
OPS = (EQ, NE, RE, NRE)
_OP_ORDER = {EQ: 0, NE: 1, RE: 2, NRE: 3}

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Alertmanager's classic matcher regex: '=~' before '=' so the '~' is not part of the value.
_CLASSIC = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$", re.S)
# The UTF-8 syntax also allows a double-quoted label name.
_QUOTED_NAME = re.compile(r'^\s*"((?:[^"\\]|\\.)*)"\s*(=~|=|!=|!~)\s*(.*?)\s*$', re.S)
_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")
_CACHE_MAX = 4096


class MatcherError(ValueError):
    """A matcher that cannot be parsed or compiled; the message follows Alertmanager's."""


def is_valid_label_name(name: str) -> bool:
    return bool(_LABEL_NAME.match(name))


def compile_regex(value: str) -> re.Pattern[str]:
    """Compile ``value`` fully anchored, as Go's ``regexp.Compile("^(?:" + v + ")$")``.

    Python's ``$`` also matches before a trailing newline, so ``fullmatch`` is used
    instead; a leading global flag group such as ``(?i)`` is moved in front (Python
    rejects global flags in the middle of a pattern, Go accepts them)."""
    flags = ""
    body = value
    m = _LEADING_FLAGS.match(value)
    if m:
        flags, body = m.group(1), value[m.end() :]
    pattern = (f"(?{flags})" if flags else "") + f"(?:{body})"
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise MatcherError(f"error parsing regexp: {exc.msg}: `{value}`") from None


def go_quote(s: str) -> str:
    """Go's strconv.Quote for the characters label values carry in practice (the group
    key and matcher strings must be byte-identical to Alertmanager's)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _open_metrics_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _is_reserved(ch: str) -> bool:
    return ch.isspace() or ch in "{}!=~,\\\"'`"


class Matcher:
    """One label matcher. Immutable, hashable; ``matches(labels)`` is the hot path."""

    __slots__ = ("_cache", "_re", "matches_value", "name", "op", "value")

    def __init__(self, name: str, op: str, value: str) -> None:
        if op not in OPS:
            raise MatcherError(f"unknown match type {op!r}")
        self.name = name
        self.op = op
        self.value = value
        self._re: re.Pattern[str] | None = None
        self._cache: dict[str, bool] = {}
        if op == EQ:
            self.matches_value = value.__eq__
        elif op == NE:
            self.matches_value = value.__ne__
        else:
            self._re = compile_regex(value)
            self.matches_value = self._match_re if op == RE else self._not_match_re

    # --- matching -------------------------------------------------------------------
    def _match_re(self, s: str) -> bool:
        r = self._cache.get(s)
        if r is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            r = self._cache[s] = self._re.fullmatch(s) is not None  # type: ignore[union-attr]
        return r

    def _not_match_re(self, s: str) -> bool:
        return not self._match_re(s)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True if the label set satisfies this matcher (a missing label is "")."""
        return self.matches_value(labels.get(self.name, ""))

    @property
    def is_regex(self) -> bool:
        return self.op in (RE, NRE)

    @property
    def is_equal(self) -> bool:
        return self.op in (EQ, RE)

    def matches_empty(self) -> bool:
        """Alertmanager's ``matchesEmpty`` (silence validation): only ``=`` and ``=~``
        count; a negative matcher never "matches the empty string" there."""
        if self.op == EQ:
            return self.value == ""
        if self.op == RE:
            return self._match_re("")
        return False

    def literal_values(self) -> tuple[str, ...] | None:
        """Values this matcher can only ever equal, for indexing: ``a`` for ``=a``,
        ``a, b`` for ``=~"a|b"`` (plain alternatives of literals), else None."""
        if self.op == EQ:
            return (self.value,)
        if (
            self.op == RE
            and self.value
            and re.fullmatch(r"[\w\-.:/@ ]+(\|[\w\-.:/@ ]+)*", self.value)
        ):
            return tuple(dict.fromkeys(self.value.split("|")))
        return None

    # --- identity and text ----------------------------------------------------------
    def sort_key(self) -> tuple[str, str, int]:
        """Alertmanager's ``Matchers.Less``: by name, then value, then type."""
        return (self.name, self.value, _OP_ORDER[self.op])

    def __str__(self) -> str:
        if any(_is_reserved(c) for c in self.name):
            return f"{go_quote(self.name)}{self.op}{go_quote(self.value)}"
        return f'{self.name}{self.op}"{_open_metrics_escape(self.value)}"'

    def __repr__(self) -> str:
        return f"Matcher({self.name!r}, {self.op!r}, {self.value!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Matcher):
            return NotImplemented
        return (self.name, self.op, self.value) == (other.name, other.op, other.value)

    def __hash__(self) -> int:
        return hash((self.name, self.op, self.value))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Matcher, (self.name, self.op, self.value))

    # --- API v2 JSON ----------------------------------------------------------------
    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }

    @classmethod
    def from_api(cls, obj: Any) -> Matcher:
        """API v2 matcher; ``isEqual`` defaults to true as in Alertmanager."""
        if not isinstance(obj, Mapping):
            raise MatcherError("matcher: expected an object with name, value, isRegex")
        name, value = obj.get("name"), obj.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise MatcherError("matcher: name and value must be strings")
        is_regex = bool(obj.get("isRegex", False))
        is_equal = obj.get("isEqual", True)
        is_equal = True if is_equal is None else bool(is_equal)
        op = (RE if is_equal else NRE) if is_regex else (EQ if is_equal else NE)
        return cls(name, op, value)

    def to_tuple(self) -> tuple[str, str, str]:
        return (self.name, self.op, self.value)


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """All matchers hold (an empty list matches everything)."""
    get = labels.get
    for m in matchers:  # noqa: SIM110 (a loop beats all() on the hot path)
        if not m.matches_value(get(m.name, "")):
            return False
    return True


def sort_matchers(matchers: Iterable[Matcher]) -> tuple[Matcher, ...]:
    return tuple(sorted(matchers, key=Matcher.sort_key))


def format_matchers(matchers: Sequence[Matcher]) -> str:
    """Alertmanager's ``Matchers.String``: ``{a="b",c=~"d"}`` (no space after commas)."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


# --- parsing ------------------------------------------------------------------------
def _unquote_name(raw: str) -> str:
    return raw.replace('\\"', '"').replace("\\\\", "\\")


def parse_matcher(s: str) -> Matcher:
    """One matcher in config/amtool syntax, e.g. ``foo="bar"``, ``foo=~a|b``, ``foo!=``.

    Follows Alertmanager's ``ParseMatcher``: optional double quotes around the value
    with OpenMetrics escapes (``\\"``, ``\\n``, ``\\\\``), an unescaped quote inside is
    an error, a spurious backslash is literal."""
    m = _CLASSIC.match(s)
    if m:
        name = m.group(1)
    else:
        m = _QUOTED_NAME.match(s)
        if not m:
            raise MatcherError(f"bad matcher format: {s}")
        name = _unquote_name(m.group(1))
    op, raw = m.group(2), m.group(3)
    expect_trailing = False
    if raw.startswith('"'):
        raw = raw[1:]
        expect_trailing = True
    out: list[str] = []
    escaped = False
    last = len(raw) - 1
    for i, ch in enumerate(raw):
        if escaped:
            escaped = False
            if ch == "n":
                out.append("\n")
            elif ch in '"\\':
                out.append(ch)
            else:
                out.append("\\" + ch)
            continue
        if ch == "\\":
            if i < last:
                escaped = True
                continue
            out.append("\\")
        elif ch == '"':
            if not expect_trailing or i < last:
                raise MatcherError(f"matcher value contains unescaped double quote: {m.group(3)}")
            expect_trailing = False
        else:
            out.append(ch)
    if expect_trailing:
        raise MatcherError(f"matcher value contains unescaped double quote: {m.group(3)}")
    return Matcher(name, op, "".join(out))


def parse_matchers(s: str) -> list[Matcher]:
    """A comma-separated list, optionally in braces: ``{foo="bar", dings!="bums", }``.

    Commas inside double quotes do not separate; a trailing comma is ignored
    (Alertmanager's ``ParseMatchers``)."""
    s = s.strip()
    if s.startswith("{"):
        s = s[1:]
    if s.endswith("}"):
        s = s[:-1]
    tokens: list[str] = []
    token: list[str] = []
    inside = escaped = False
    for ch in s:
        if ch == "," and not inside:
            tokens.append("".join(token))
            token = []
            continue
        if ch == '"':
            if not escaped:
                inside = not inside
            else:
                escaped = False
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(ch)
    last = "".join(token).strip()
    if last:
        tokens.append(last)
    return [parse_matcher(t) for t in tokens]


def matchers_from_legacy(
    match: Mapping[str, str] | None, match_re: Mapping[str, str] | None
) -> list[Matcher]:
    """The deprecated ``match`` / ``match_re`` maps as matchers."""
    out = [Matcher(k, EQ, v) for k, v in (match or {}).items()]
    out += [Matcher(k, RE, v) for k, v in (match_re or {}).items()]
    return out
