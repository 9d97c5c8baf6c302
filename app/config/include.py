"""``include:`` in pipelines.yaml: rule packs, merged into ``rules`` before validation.

```yaml
include:
  - packs/system.yaml                          # a file, with the pack's defaults
  - pack: application                          # a built-in pack by name
    params: {latency_p99_seconds: 0.3}         # its parameters
    exclude: [ThroughputDrop]                  # rules of the pack left out
```
A path resolves relative to the including file first, then to ``app/config/`` (where
the built-in packs live, in ``packs/``); ``pack: NAME`` is ``packs/NAME.yaml``.  Only
relative ``.yaml`` paths without ``..`` are read.  A pack
file declares its parameters with defaults and its rules, which use them as
``${params.NAME}`` (the whole value keeps the parameter's type: a number, a list, a
mapping) or ``${params.NAME * 14.4}`` (a number times a constant).  Packs do not include
other packs.

The merge is done on the composed YAML nodes, so the loader's line numbers of an
included rule are the pack's own; ``expand_includes`` returns which file each included
rule came from, and the loader names that file in its errors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

BUILTIN = Path(__file__).parent  # packs/*.yaml beside this module
SECTIONS = ("rules", "event_rules")  # what a pack contributes
PACK_KEYS = ("pack", "description", "params", *SECTIONS)
_PARAM = re.compile(r"\$\{params\.([A-Za-z_][A-Za-z0-9_]*)(?:\s*\*\s*(-?\d+(?:\.\d+)?))?\}")
Loc = tuple[str | int, ...]
Origins = dict[Loc, tuple[str, int]]  # (section, i) -> the pack file, and the index there


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def resolve(name: str, including: str) -> Path | None:
    """The pack file ``name`` names, seen from the file ``including``; None if none."""
    for base in (Path(including).parent, BUILTIN):
        path = base / name
        if path.is_file():
            return path
    return None


def _confined(name: str) -> bool:
    """Packs come from beside the including file or the built-in ones, nowhere else (a
    tenant's posted config must not read the worker's files)."""
    path = Path(name)
    return not path.is_absolute() and ".." not in path.parts and path.suffix in (".yaml", ".yml")


def builtin_packs() -> list[Path]:
    return sorted((BUILTIN / "packs").glob("*.yaml"))


def _plain(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def _get(node: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


class _Pack:
    """One include entry being expanded; problems go to ``errors`` as file:line: key."""

    def __init__(self, entry: yaml.Node, where: str, fname: str, errors: list[str]) -> None:
        self.errors = errors
        self.where = where  # the include entry's position, for errors about it
        self.file = ""
        self.given: dict[str, Any] = {}
        self.params: dict[str, Any] = {}
        self.exclude: set[str] = set()
        spec = _plain(entry)
        if isinstance(spec, str):
            spec = {"file": spec}
        if not isinstance(spec, dict) or not ({"file", "pack"} & set(spec)):
            self._fail("expected a file path, or a mapping with pack (or file), params, exclude")
            return
        unknown = sorted(set(spec) - {"file", "pack", "params", "exclude"})
        if unknown:
            self._fail(f"unknown key {', '.join(unknown)}")
            return
        name = spec.get("file") or f"packs/{spec.get('pack')}.yaml"
        params, exclude = spec.get("params") or {}, spec.get("exclude") or []
        if not isinstance(params, dict) or not isinstance(exclude, list):
            self._fail("params must be a mapping and exclude a list of alert names")
            return
        if not _confined(str(name)):
            self._fail(f"{name}: a pack is a relative .yaml path without '..'")
            return
        path = resolve(str(name), fname)
        if path is None:
            known = ", ".join(p.stem for p in builtin_packs())
            self._fail(f"{name}: no such pack file (built-in packs: {known})")
            return
        self.file = _display(path)
        self.given, self.exclude = params, {str(x) for x in exclude}

    def _fail(self, message: str) -> None:
        self.errors.append(f"{self.where}: {message}")

    def sections(self) -> dict[str, list[tuple[int, yaml.Node]]]:
        """The pack's rule nodes by section, with parameters substituted, less the
        excluded; each with its index in the pack."""
        if not self.file:
            return {}
        text = Path(self.file).read_text()
        try:
            loader = yaml.SafeLoader(text)
            loader.name = self.file
            try:
                root = loader.get_single_node()
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            self.errors.append(
                f"{self.file}:{mark.line + 1 if mark else 1}: invalid YAML: "
                f"{getattr(exc, 'problem', exc)}"
            )
            return {}
        if not isinstance(root, yaml.MappingNode):
            self.errors.append(f"{self.file}:1: expected a mapping with {', '.join(PACK_KEYS)}")
            return {}
        for k, _ in root.value:
            if k.value not in PACK_KEYS:
                self.errors.append(f"{self.file}:{k.start_mark.line + 1}: {k.value}: unknown key")
        if not self._params(root):
            return {}
        out: dict[str, list[tuple[int, yaml.Node]]] = {}
        for section in SECTIONS:
            found = _get(root, section)
            if found is None:
                continue
            if not isinstance(found[1], yaml.SequenceNode):
                line = found[1].start_mark.line + 1
                self.errors.append(f"{self.file}:{line}: {section}: expected a list of rules")
                continue
            out[section] = []
            for i, rule in enumerate(found[1].value):
                name = _get(rule, "alert") if isinstance(rule, yaml.MappingNode) else None
                if name is not None and name[1].value in self.exclude:
                    self.exclude.discard(name[1].value)
                    continue
                out[section].append((i, self._substitute(rule, f"{section}[{i}]")))
        if self.exclude:
            self._fail(f"exclude: {', '.join(sorted(self.exclude))}: not a rule of {self.file}")
        return out

    def _params(self, root: yaml.MappingNode) -> bool:
        """The declared parameters' values: the defaults, overridden by the include
        where it gives a good value.  False if the declarations themselves are bad."""
        found = _get(root, "params")
        declared = _plain(found[1]) if found else {}
        if not isinstance(declared, dict) or not all(
            isinstance(d, dict) and "default" in d for d in declared.values()
        ):
            line = found[1].start_mark.line + 1 if found else 1
            self.errors.append(f"{self.file}:{line}: params: each needs a default")
            return False
        self.params = {k: d["default"] for k, d in declared.items()}
        for key, value in self.given.items():
            if key not in declared:
                known = ", ".join(declared) or "none"
                self._fail(f"params.{key}: not a parameter of {self.file} (known: {known})")
            elif _kind(value) != _kind(self.params[key]):
                default = self.params[key]
                self._fail(f"params.{key}: expected a {_kind(default)} like {default!r}")
            else:
                self.params[key] = value
        return True

    def _substitute(self, node: yaml.Node, path: str) -> yaml.Node:
        if isinstance(node, yaml.MappingNode):
            node.value = [(k, self._substitute(v, f"{path}.{k.value}")) for k, v in node.value]
            return node
        if isinstance(node, yaml.SequenceNode):
            node.value = [self._substitute(v, f"{path}[{i}]") for i, v in enumerate(node.value)]
            return node
        if not isinstance(node, yaml.ScalarNode) or "${params." not in node.value:
            return node
        whole = _PARAM.fullmatch(node.value)
        try:
            if whole:
                value = self._value(whole)
                new = yaml.compose(yaml.safe_dump(value))
                new.start_mark, new.end_mark = node.start_mark, node.end_mark
                return new
            text = _PARAM.sub(lambda m: _text(self._value(m)), node.value)
        except (KeyError, TypeError) as exc:
            line = node.start_mark.line + 1
            self.errors.append(f"{self.file}:{line}: {path}: {exc.args[0]}")
            return node
        return yaml.ScalarNode("tag:yaml.org,2002:str", text, node.start_mark, node.end_mark)

    def _value(self, m: re.Match[str]) -> Any:
        name, factor = m.group(1), m.group(2)
        if name not in self.params:
            raise KeyError(f"unknown parameter {name} (declared: {', '.join(self.params)})")
        value = self.params[name]
        if factor is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"parameter {name} is not a number, it cannot be multiplied")
        return round(value * float(factor), 12)


def _kind(value: Any) -> str:
    """What a parameter's value must be, like its default: one of a few YAML kinds."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "list", dict: "mapping"}.get(type(value), type(value).__name__)


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def expand_includes(root: yaml.Node, fname: str, errors: list[str]) -> tuple[yaml.Node, Origins]:
    """Replace the top-level ``include`` by the packs' rules, appended to ``rules``
    and ``event_rules``."""
    origins: Origins = {}
    if not isinstance(root, yaml.MappingNode):
        return root, origins
    found = _get(root, "include")
    if found is None:
        return root, origins
    key, value = found
    root.value = [kv for kv in root.value if kv[0] is not key]
    entries = value.value if isinstance(value, yaml.SequenceNode) else [value]
    for i, entry in enumerate(entries):
        at = f"[{i}]" if isinstance(value, yaml.SequenceNode) else ""
        pack = _Pack(entry, f"{fname}:{entry.start_mark.line + 1}: include{at}", fname, errors)
        for section, nodes in pack.sections().items():
            seq = _sequence(root, section, key)
            if seq is None:
                continue  # the schema reports a section that is not a list
            for index, node in nodes:
                origins[(section, len(seq.value))] = (pack.file, index)
                seq.value.append(node)
    return root, origins


def _sequence(root: yaml.MappingNode, section: str, at: yaml.Node) -> yaml.SequenceNode | None:
    """The top-level list ``section``, made empty (at the node ``at``) if absent."""
    found = _get(root, section)
    if found is None:
        marks = (at.start_mark, at.end_mark)
        seq = yaml.SequenceNode("tag:yaml.org,2002:seq", [], *marks)
        root.value.append((yaml.ScalarNode("tag:yaml.org,2002:str", section, *marks), seq))
        return seq
    return found[1] if isinstance(found[1], yaml.SequenceNode) else None


def origin(loc: Loc, fname: str, origins: Origins) -> tuple[str, Loc]:
    """The file an error at ``loc`` is in, and the key to show there."""
    found = origins.get(loc[:2])
    if found is None:
        return fname, loc
    return found[0], (loc[0], found[1], *loc[2:])
