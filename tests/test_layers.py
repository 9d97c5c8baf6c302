"""Imports point one way (models <- channels <- app.config <- Faust app, tables <- agents
<- app entry points), nothing in the package imports tests/ or benchmarks/, and no
module reaches into another module's ``_private`` names.

Every module of the package is read with ``ast`` (nothing is imported, so a module
that needs a broker or a config file is checked all the same); an import inside a
function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "channels", "app", "tables", "agents")
OUTSIDE = ("tests", "benchmarks")


def layer(module: str) -> int | None:
    """The ring a module of ours sits in (higher may import lower), None if not ours."""
    top = module.split(".")[0]
    if top == "models":
        return 0
    if top == "channels":
        return 1
    if _within(module, "app.config", "app.settings"):
        return 2
    if _within(module, "app.faust_app", "app.pipeline") or top == "tables":
        return 3
    if top == "agents":
        return 4
    if top == "app":
        return 5
    return None


def _within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass(frozen=True)
class Import:
    where: str  # path:line
    importer: str
    module: str
    name: str | None  # the name taken from the module (from-import, attribute), if any


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The module a (possibly relative) ``from ... import`` names."""
    if not node.level:
        return node.module or ""
    parts = importer.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path) -> list[Import]:
    return imports_in(
        path.read_text(), _module_name(path), path.name == "__init__.py", path.relative_to(ROOT)
    )


def imports_in(source: str, importer: str, is_package: bool, where: Path) -> list[Import]:
    """Every import in one module, plus attribute reads through a name bound to a module."""
    tree = ast.parse(source, str(where))
    found: list[Import] = []
    module_aliases: dict[str, str] = {}  # local name -> our module it is bound to
    for node in ast.walk(tree):
        at = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(at, importer, alias.name, None))
                if alias.asname:
                    module_aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, importer, is_package)
            if module == "__future__":
                continue
            for alias in node.names:
                found.append(Import(at, importer, module, alias.name))
                if _is_module(f"{module}.{alias.name}"):
                    module_aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in module_aliases
        ):
            at = f"{where}:{node.lineno}"
            found.append(Import(at, importer, module_aliases[node.value.id], node.attr))
    return found


def _package_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


ALL_IMPORTS = [i for path in _package_files() for i in imports_of(path)]


def upward(imports: list[Import]) -> list[Import]:
    out = []
    for i in imports:
        mine, theirs = layer(i.importer), layer(i.module)
        if mine is not None and theirs is not None and theirs > mine:
            out.append(i)
    return out


def outside(imports: list[Import]) -> list[Import]:
    return [i for i in imports if i.module.split(".")[0] in OUTSIDE]


def private(imports: list[Import]) -> list[Import]:
    """``_name`` taken from another module of ours."""
    return [
        i
        for i in imports
        if i.name is not None
        and _is_private(i.name)
        and layer(i.module) is not None
        and i.module != i.importer
    ]


def _listing(found: list[Import]) -> str:
    return "\n".join(
        f"  {i.where}: {i.importer} -> {i.module}{'.' + i.name if i.name else ''}" for i in found
    )


def test_the_walk_sees_the_package():
    """Known answers, so the checks below cannot pass by reading nothing."""
    assert len(_package_files()) > 60
    assert Counter(i.module for i in ALL_IMPORTS)["models.suppression.matchers"] >= 3
    assert layer("app.config.loader") == 2 and layer("app.cli") == 5
    assert layer("app.faust_app") == 3 and layer("tables.alerts") == 3
    assert layer("app.configuration") == 5  # a prefix of a name is not the package
    assert layer("yaml") is None


def test_no_import_points_up_the_layers():
    found = upward(ALL_IMPORTS)
    assert not found, "imports that point up the layers:\n" + _listing(found)


def test_nothing_in_the_package_imports_tests_or_benchmarks():
    found = outside(ALL_IMPORTS)
    assert not found, "the package imports tests/ or benchmarks/:\n" + _listing(found)


def test_no_private_names_of_other_modules():
    found = private(ALL_IMPORTS)
    assert not found, "private names taken from another module:\n" + _listing(found)


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("from app.config.types import Duration\n", "upward"),
        ("def f():\n    import agents.alerts\n", "upward"),
        ("from benchmarks.harness import main\n", "outside"),
        ("import tests.conftest\n", "outside"),
        ("from models.suppression.silences import _hidden\n", "private"),
        ("from models.suppression import silences as s\nx = s._hidden\n", "private"),
    ],
)
def test_each_check_catches_its_case(source, kind):
    """Each check finds one planted import in a module that would sit in channels/."""
    checks = {"upward": upward, "outside": outside, "private": private}
    found = checks[kind](imports_in(source, "channels.planted", False, Path("planted.py")))
    assert [i.importer for i in found] == ["channels.planted"]
