"""Engine set-up for SQLite and PostgreSQL, transactions, and migrations.

SQLite: WAL journal, ``synchronous=FULL``, foreign keys on, a busy timeout, and every write
transaction opened with ``BEGIN IMMEDIATE`` so that a writer takes the lock up front (a
deferred read-then-write transaction fails at once under contention instead of waiting).
PostgreSQL: the same code through ``postgresql+psycopg://`` URLs; writers serialize per
project on the project row (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection as Connection  # re-exported: the transaction service passes on
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool

from labelloop.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
STALE_MIN_PAGES = 128
"""Growth (pages of 8 KiB: 1 MiB) below which a table's statistics are not refreshed."""


def _normalize_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, busy_timeout_ms: int = 30_000) -> Engine:
    """Engine for ``url`` with labelloop's connection settings."""
    url = _normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"database URL {url!r} is not valid; expected e.g. sqlite:///labelloop.db "
            "or postgresql+psycopg://user@host:5432/db"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            parent = Path(database).expanduser().resolve().parent
            if not parent.is_dir():
                raise ConfigError(f"folder {parent} for the SQLite database does not exist")
        engine = create_engine(
            url,
            poolclass=NullPool,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: bulk index inserts
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise ConfigError(
        f"database backend {parsed.get_backend_name()!r} is not supported; "
        "expected sqlite or postgresql"
    )


class Store:
    """A database: engine plus write/read transactions. Returns plain records, not ORM rows."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000) -> None:
        self.url = _normalize_url(url)
        self.engine = make_engine(self.url, busy_timeout_ms=busy_timeout_ms)
        self.dialect = self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``); commits, or rolls back on error."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (SQLite: deferred, so readers never wait for writers under WAL)."""
        with (
            self.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn,
            conn.begin(),
        ):
            yield conn

    def migrate(self) -> None:
        """Bring the database to the newest migration (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.write() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except OperationalError as exc:
            raise ConfigError(f"cannot open database {self.safe_url}: {exc.orig}") from None

    def is_migrated(self) -> bool:
        """Whether the database is at the newest migration."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        try:
            with self.read() as conn:
                if not inspect(conn).has_table("alembic_version"):
                    return False
                return MigrationContext.configure(conn).get_current_revision() == head
        except OperationalError as exc:
            raise ConfigError(f"cannot open database {self.safe_url}: {exc.orig}") from None

    def refresh_statistics(self, tables: Sequence[str]) -> list[str]:
        """PostgreSQL: ANALYZE those of ``tables`` that grew by at least 10 % and 1 MiB since
        their statistics were taken; returns their names. SQLite: nothing.

        Called after a bulk load commits: until autovacuum gets to it, the planner would
        plan later queries with the old statistics (a table that was empty looks empty, and
        a project that was small looks small). Runs outside the load's transaction, so no
        lock outlives the ANALYZE itself.
        """
        if self.dialect != "postgresql":
            return []
        analyzed = []
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                relpages, pages = conn.execute(
                    text(
                        "SELECT relpages, pg_relation_size(oid) / current_setting('block_size')::int"
                        " FROM pg_class WHERE oid = to_regclass(:table)"
                    ),
                    {"table": table},
                ).one()
                if pages - max(relpages, 0) >= max(STALE_MIN_PAGES, relpages // 10):
                    conn.exec_driver_sql(f"ANALYZE {table}")
                    analyzed.append(table)
        return analyzed

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()
