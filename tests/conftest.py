"""Shared fixtures. `--backend sqlite|postgres` selects the store the suite runs against."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

from tests import realdata

if TYPE_CHECKING:
    from labelloop.store.engine import Store

# CI runs property tests derandomized (reproducible runs); locally they explore new examples.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.load_profile("ci" if realdata.in_ci() else "default")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="database the store tests run against (postgres needs LABELLOOP_TEST_POSTGRES_URL)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: test only meaningful on SQLite")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full data root (``LABELLOOP_SHARED_DATA``); prefer ``realdata.dataset`` in tests
    that a committed copy under tests/data can serve."""
    return realdata.shared()


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--backend"))


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test, on the selected backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'labelloop.db'}"
        return
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = os.environ.get("LABELLOOP_TEST_POSTGRES_URL")
    if not server:
        pytest.fail("--backend postgres needs LABELLOOP_TEST_POSTGRES_URL")
    name = f"lltest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def workspace(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An initialised workspace (project 'test') in a temp folder that is the cwd."""
    from labelloop.service.project.workspace import init_workspace

    folder = tmp_path / "ws"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("LABELLOOP_DATABASE_URL", database_url)
    ws, _ = init_workspace(folder, "test")
    ws.close()
    yield folder


@pytest.fixture
def store(workspace: Path) -> Iterator[Store]:
    from labelloop.service.project.workspace import open_workspace

    ws = open_workspace(workspace)
    yield ws.store
    ws.close()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """Run `labelloop ARGS` in-process through the real entry point (`main`)."""
    from labelloop.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["labelloop", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
