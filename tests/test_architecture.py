"""Layers import inward only (design.md); the pure core imports no I/O frameworks."""

from __future__ import annotations

import ast
from pathlib import Path

import labelloop

SRC = Path(labelloop.__file__).resolve().parent

# layer -> layers it may import (besides itself). Top-level modules count as shared.
SHARED = {"errors", "settings", "schema", "registry", "__init__", "__main__", "data"}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "store": {"core"},
    "formats": {"core"},
    "labelers": {"core"},
    "distributed": {"core"},
    "service": {"core", "store", "formats", "labelers", "distributed"},
    "web": {"service", "core"},
    "cli": {"service", "core", "formats"},
}
CORE_FORBIDDEN = {
    "sqlalchemy",
    "fastapi",
    "typer",
    "pandas",
    "httpx",
    "rich",
    "alembic",
    "requests",
}


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def _layer(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else Path(rel[0]).stem


def test_core_imports_no_io_frameworks() -> None:
    bad = [
        f"{p.relative_to(SRC)}:{line} imports {mod}"
        for p in (SRC / "core").rglob("*.py")
        for mod, line in _imports(p)
        if mod.split(".")[0] in CORE_FORBIDDEN
    ]
    assert not bad, bad


def test_layers_import_inward_only() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        layer = _layer(path)
        if layer in SHARED or layer not in ALLOWED:
            continue
        for mod, line in _imports(path):
            parts = mod.split(".")
            if parts[0] != "labelloop" or len(parts) < 2:
                continue
            target = parts[1]
            if target == layer or target in SHARED:
                continue
            if target not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(SRC)}:{line}: {layer} -> {target}")
    assert not bad, bad


def test_shared_modules_stay_below_the_layers() -> None:
    """errors/settings/schema may use core but never store, service, cli or web."""
    bad = []
    for name in ("errors", "settings", "schema", "registry"):
        paths = [SRC / f"{name}.py", *sorted((SRC / name).rglob("*.py"))]
        for path in (p for p in paths if p.is_file()):
            for mod, line in _imports(path):
                parts = mod.split(".")
                if (
                    parts[0] == "labelloop"
                    and len(parts) > 1
                    and parts[1] in ALLOWED
                    and parts[1] != "core"
                ):
                    bad.append(f"{path.relative_to(SRC)}:{line} imports {mod}")
    assert not bad, bad


def test_public_api_all_is_sorted_and_complete() -> None:
    names = labelloop.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(labelloop, name), name


def test_lazy_exports_cover_all() -> None:
    exported = set(labelloop._EXPORTS) | {"__version__"}
    assert exported == set(labelloop.__all__)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> modules of ``package`` it imports anywhere (function-level imports too).

    ``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg``.
    """
    modules = {_module_name(p): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = mod.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            graph[mod].update(t for t in targets if t in modules and t != mod)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_core_has_no_import_cycles() -> None:
    """No module of the core imports (even lazily, inside a function) one that imports it back."""
    graph = _import_graph(SRC / "core")
    assert len(graph) > 10  # the walk saw the core
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle_made_by_a_lazy_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _find_cycle(graph) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_service_holds_no_sql() -> None:
    """No service module imports SQLAlchemy or the store's tables: queries live in store/,
    which returns core records (issue 12)."""
    modules = sorted((SRC / "service").rglob("*.py"))
    assert len(modules) > 20  # the walk saw service/
    bad = [
        f"{path.relative_to(SRC)}:{line} imports {mod}"
        for path in modules
        for mod, line in _imports(path)
        if mod.split(".")[0] == "sqlalchemy" or mod == "labelloop.store.tables"
    ]
    bad += [
        f"{path.relative_to(SRC)} imports labelloop.store.tables"
        for path in modules
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and node.module == "labelloop.store"
        and any(a.name == "tables" for a in node.names)
    ]
    assert not bad, bad
