"""Where the import benchmarks' workspaces live: SQLite (a file in the workspace folder) or
PostgreSQL (a fresh database per workspace, dropped afterwards).

The PostgreSQL server is ``LABELLOOP_BENCH_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``, trust auth); the benchmark needs
the right to create databases there.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

POSTGRES_URL_ENV = "LABELLOOP_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="sqlite (default); postgres measures PostgreSQL with SQLite beside it, same files, "
        f"same run (server: ${POSTGRES_URL_ENV}, default {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument(
        "--skip-sqlite", action="store_true", help="with --store postgres: PostgreSQL only"
    )


def selected_stores(args: argparse.Namespace) -> list[str]:
    if args.store == "sqlite":
        return ["sqlite"]
    return ["postgres"] if args.skip_sqlite else ["sqlite", "postgres"]


def base_env() -> dict[str, str]:
    """The children's environment: no inherited database URL, one BLAS thread."""
    env = {k: v for k, v in os.environ.items() if k != "LABELLOOP_DATABASE_URL"}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


@contextmanager
def store_env(store: str, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``env`` for a fresh workspace on ``store`` (PostgreSQL: a new database, dropped after)."""
    if store == "sqlite":
        yield dict(env)
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    name = f"llbench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure to reach the server ends the benchmark
        admin.dispose()
        raise SystemExit(
            f"cannot create a database on {server} ({POSTGRES_URL_ENV}): {exc}"
        ) from None
    try:
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        yield {**env, "LABELLOOP_DATABASE_URL": url}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
