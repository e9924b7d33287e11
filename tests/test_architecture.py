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
        path = SRC / f"{name}.py"
        if not path.exists():
            continue
        for mod, line in _imports(path):
            parts = mod.split(".")
            if (
                parts[0] == "labelloop"
                and len(parts) > 1
                and parts[1] in ALLOWED
                and parts[1] != "core"
            ):
                bad.append(f"{name}.py:{line} imports {mod}")
    assert not bad, bad


def test_public_api_all_is_sorted_and_complete() -> None:
    names = labelloop.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(labelloop, name), name


def test_lazy_exports_cover_all() -> None:
    exported = set(labelloop._EXPORTS) | {"__version__"}
    assert exported == set(labelloop.__all__)


STORE_OWNS_QUERIES = (
    "service/sample/sampling.py",
    "service/sample/routing.py",
    "service/annotate/batches.py",
    "service/source/imports.py",
    "service/source/telemetry.py",
    "service/audit/events.py",
    "service/project/schemas.py",
)
"""Service modules whose queries the store owns (issue 12): they import no SQLAlchemy and
not the tables; they pass a ``labelloop.store.engine.Connection`` to store functions."""


def test_service_modules_hold_no_sql() -> None:
    bad = [
        f"{name}:{line} imports {mod}"
        for name in STORE_OWNS_QUERIES
        for mod, line in _imports(SRC / name)
        if mod.split(".")[0] == "sqlalchemy" or mod == "labelloop.store.tables"
    ]
    bad += [
        f"{name}:{node.lineno} imports tables from labelloop.store"
        for name in STORE_OWNS_QUERIES
        for node in ast.walk(ast.parse((SRC / name).read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and node.module == "labelloop.store"
        and any(a.name == "tables" for a in node.names)
    ]
    assert not bad, bad
