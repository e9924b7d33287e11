"""Store: migrations match the tables, SQLite connection settings, append-only events."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from labelloop.errors import ConfigError
from labelloop.service.source.imports import import_gold
from labelloop.store.engine import Store
from labelloop.store.tables import metadata


def test_migrations_create_exactly_the_declared_tables(database_url):
    store = Store(database_url)
    store.migrate()
    store.migrate()  # idempotent
    assert store.is_migrated()
    with store.read() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    store.dispose()


@pytest.mark.sqlite_only
def test_sqlite_settings(tmp_path, backend):
    if backend != "sqlite":
        pytest.skip("SQLite settings")
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    with store.write() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        # A write transaction holds the RESERVED lock from its first statement on.
        other = Store(f"sqlite:///{tmp_path / 'x.db'}", busy_timeout_ms=50)
        with pytest.raises(Exception, match="locked"), other.write():
            pass
        other.dispose()
    store.dispose()


def test_bad_urls_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not supported"):
        Store("mysql://root@localhost/x")
    with pytest.raises(ConfigError, match="does not exist"):
        Store(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    with pytest.raises(ConfigError, match="not valid"):
        Store("::nonsense::")


def test_events_reject_update_delete_and_truncate(store, tmp_path):
    gold = tmp_path / "gold.csv"
    gold.write_text("task,label\nt1,a\nt2,b\n")
    import_gold(store, None, gold)
    statements = ["UPDATE events SET source = 'api'", "DELETE FROM events"]
    if store.dialect == "postgresql":
        statements.append("TRUNCATE events CASCADE")
    for sql in statements:
        with pytest.raises(Exception, match="append-only"), store.write() as conn:
            conn.execute(text(sql))
