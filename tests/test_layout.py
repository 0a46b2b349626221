"""The house rules of the package layout, checked on the source: no import circle among
skillstore's modules, and the command line and the agent use only the public API."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import skillstore

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "skillstore"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(under: Path) -> dict[str, Path]:
    return {module_name(path): path for path in sorted(under.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, *, runtime_only: bool) -> Iterator[tuple[str, list[str], int]]:
    """(module, names, line) for every import in the file, function-level ones included
    (a lazy import still runs); with ``runtime_only``, those under ``if TYPE_CHECKING:`` are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]

    def walk(node: ast.AST) -> Iterator[tuple[str, list[str], int]]:
        for child in ast.iter_child_nodes(node):
            if runtime_only and isinstance(child, ast.If) and _is_type_checking(child):
                yield from (item for stmt in child.orelse for item in walk_one(stmt))
                continue
            yield from walk_one(child)

    def walk_one(node: ast.AST) -> Iterator[tuple[str, list[str], int]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            yield base, [alias.name for alias in node.names], node.lineno
        yield from walk(node)

    yield from walk(tree)


def import_graph() -> dict[str, set[str]]:
    """Module → the skillstore modules it imports at run time. ``from pkg import name`` counts
    as importing ``pkg.name`` when that is a module, else ``pkg``."""
    known = modules(PACKAGE)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, names, _ in imports(path, runtime_only=True):
            if target != "skillstore" and not target.startswith("skillstore."):
                continue
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
            graph[name].update(submodules or [target])
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_among_skillstore_modules() -> None:
    graph = import_graph()
    assert "skillstore.store" in graph and "skillstore.backends.postgres" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    # the check above can fail: the finder sees a circle through a lazy import
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


PUBLIC = set(skillstore.__all__) | set(skillstore.OPTIONAL_EXPORTS)
# Faces over the public API, as the command line is one: the command line may import them
# (``skillstore mcp`` runs the MCP server), and they keep the rule themselves.
FACES = {"skillstore.mcp": PACKAGE / "mcp.py"}


def private_imports(under: Path, own_package: str) -> list[str]:
    """Imports of skillstore below its public names, in every module under ``under`` (a
    directory, or one module's file) (``if TYPE_CHECKING:`` imports included: a type is part
    of what a module depends on). Importing one of the FACES is not below the public API."""
    found = []
    for path in [under] if under.is_file() else modules(under).values():
        for target, names, line in imports(path, runtime_only=False):
            where = f"{path.relative_to(ROOT)}:{line}"
            if target == own_package or target.startswith(own_package + ".") or target in FACES:
                continue
            if target == "skillstore":
                found += [f"{where}: skillstore.{n}" for n in names if n not in PUBLIC]
            elif target.startswith("skillstore."):
                found.append(f"{where}: {target}")
    return found


def test_the_command_line_uses_only_the_public_api() -> None:
    assert (PACKAGE / "cli" / "commands.py").is_file()
    assert private_imports(PACKAGE / "cli", "skillstore.cli") == []


def test_the_mcp_server_uses_only_the_public_api() -> None:
    for name, path in FACES.items():
        assert path.is_file() and module_name(path) == name
        assert private_imports(path, name) == []


def test_the_agent_uses_only_the_public_api() -> None:
    assert private_imports(ROOT / "agent", "agent") == []


def test_the_public_api_check_catches_an_internal_import(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "mod.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from skillstore import SkillStore, store\n"
        "if TYPE_CHECKING:\n    from skillstore.storage import log\n"
        "def f():\n    import skillstore.storage.manifest\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = private_imports(fake, "fake")
    finally:
        ROOT = saved
    assert found == ["fake/mod.py:2: skillstore.store", "fake/mod.py:4: skillstore.storage",
                     "fake/mod.py:6: skillstore.storage.manifest"]


def test_postgres_backend_is_public_and_loads_its_driver_only_when_asked() -> None:
    import subprocess
    import sys

    code = (
        "import sys, skillstore\n"
        "assert 'psycopg' not in sys.modules and 'skillstore.backends.postgres' not in sys.modules\n"
        "from skillstore import PostgresBackend\n"
        "print(PostgresBackend.__module__, 'psycopg' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["skillstore.backends.postgres", "True"]
    assert "PostgresBackend" not in skillstore.__all__  # `import *` never needs the driver


def test_peek_is_exported_under_both_names() -> None:
    assert skillstore.peek is skillstore.read_info
    assert {"peek", "read_info", "StoreInfo", "VerifyReport", "SkillBackend"} <= set(skillstore.__all__)


def test_the_license_is_an_spdx_string_that_the_pinned_setuptools_reads() -> None:
    # a table here makes every install print setuptools' deprecation notice
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]
