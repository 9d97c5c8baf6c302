"""The one loader of pipelines.yaml: YAML -> ${VAR} substitution -> the pydantic schema.

Every error names the file, the line and the key, e.g.
``pipelines.yaml:7: rules[0].aggregate: 'avgg' is not one of avg, min, ...``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.config.include import expand_includes, origin
from app.config.schema import PipelinesConfig
from channels.config_fields import SECRET_FILES

ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""A ``${VAR}`` in pipelines.yaml: the value of the environment variable VAR."""
Path_ = tuple[str | int, ...]


def expand_env(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` with every ``${VAR}`` replaced from ``env`` (default: the process's
    environment), an unset one by ''; for showing a file, where the loader's error for
    an unset variable is not wanted."""
    env = os.environ if env is None else env
    return ENV_VAR.sub(lambda m: env.get(m.group(1), ""), text)


class ConfigError(Exception):
    """Invalid configuration; ``errors`` holds one ``file:line: key: reason`` line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _walk(
    node: yaml.Node,
    path: Path_,
    lines: dict[Path_, int],
    env: Mapping[str, str],
    errors: list[str],
    fname: str,
    unset: set[Path_],
) -> Any:
    """Turn a composed YAML node into plain data, noting each key's line, substituting ${VAR}."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            out[key] = _walk(value_node, (*path, key), lines, env, errors, fname, unset)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _walk(v, (*path, i), lines, env, errors, fname, unset) for i, v in enumerate(node.value)
        ]
    value = yaml.safe_load(yaml.serialize(node))
    if isinstance(value, str) and "${" in value:

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in env:
                errors.append(
                    f"{fname}:{lines[path]}: {_dotted(path)}: "
                    f"environment variable {name} is not set"
                )
                unset.add(path)
                return ""
            return env[name]

        value = ENV_VAR.sub(sub, value)
    return value


def _dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top)"


def _line_of(loc: Path_, lines: dict[Path_, int]) -> int:
    """The line of the deepest part of ``loc`` that exists in the file."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def _clean_loc(loc: tuple[Any, ...], data: Any, names_key: bool) -> Path_:
    """Keep the parts of pydantic's error location that name keys of the file; drop the
    names it adds for union branches and validators. A last part that is absent from
    the data is a missing key, and is kept."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if (isinstance(node, list) and isinstance(part, int) and part < len(node)) or (
            isinstance(node, dict) and part in node
        ):
            out.append(part)
            node = node[part]
        elif i == len(loc) - 1 and names_key:
            out.append(part)
    return tuple(out)


def load_text(
    text: str,
    fname: str = "pipelines.yaml",
    env: Mapping[str, str] | None = None,
    only: Collection[str] | None = None,
    secret_files: Path | None = None,
) -> PipelinesConfig:
    """Parse and validate; every error of the text is reported at once (an unset
    ``${VAR}`` does not hide the schema's errors).  ``only``: the top-level keys allowed
    (a tenant's config holds only its own part of the pipelines file).  ``secret_files``:
    the directory receivers' ``*_file`` secrets are read relative to (None: a text
    posted to the API, which may not name files)."""
    env = os.environ if env is None else env
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError(
            [f"{fname}:{line}: invalid YAML: {getattr(exc, 'problem', exc)}"]
        ) from None
    if root is None:
        raise ConfigError([f"{fname}:1: the file is empty"])
    lines: dict[Path_, int] = {}
    errors: list[str] = []
    unset: set[Path_] = set()
    root, origins = expand_includes(root, fname, errors)  # rule packs
    data = _walk(root, (), lines, env, errors, fname, unset)
    if not isinstance(data, dict):
        raise ConfigError([*errors, f"{fname}:1: expected a mapping at the top level"])
    if only is not None:
        for key in [k for k in data if k not in only]:
            errors.append(
                f"{fname}:{lines[(key,)]}: {key}: not allowed here (allowed: {', '.join(only)})"
            )
            del data[key]
    try:
        context = {SECRET_FILES: secret_files} if secret_files is not None else None
        config = PipelinesConfig.model_validate(data, context=context)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = _clean_loc(err["loc"], data, err["type"] in ("missing", "extra_forbidden"))
            if any(loc[: len(p)] == p or loc == p[:-1] for p in unset):
                continue  # the unset variable (its key, or the mapping holding it)
            msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            elif err["type"] == "missing":
                msg = "required key is missing"
            file, shown = origin(loc, fname, origins)
            errors.append(f"{file}:{_line_of(loc, lines)}: {_dotted(shown)}: {msg}")
    if errors:
        raise ConfigError(sorted(set(errors), key=errors.index))
    return config


def load_file(path: str | Path, env: Mapping[str, str] | None = None) -> PipelinesConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    return load_text(text, str(path), env, secret_files=path.parent)
