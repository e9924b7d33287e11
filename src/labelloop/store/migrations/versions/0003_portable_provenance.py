"""Portable provenance: events name their hash format; project-level events (no item, and
possibly before any schema) live in the same chain.

Adds ``events.hash_format`` (existing events are format 1) and makes ``events.item_id`` and
``events.schema_version_id`` nullable. The append-only triggers stay as they are: nothing
here updates or deletes an event row.

SQLite cannot drop a NOT NULL constraint with ALTER TABLE, and its usual table rebuild
(copy, drop, rename) needs ``PRAGMA foreign_keys=OFF``, which has no effect inside the
migration's transaction (the drop of ``events`` then fails on the gold / item_state rows
that reference it). SQLite documents a simpler procedure for removing NOT NULL constraints,
which change nothing on disk: rewrite the table's SQL in ``sqlite_schema`` under
``PRAGMA writable_schema`` and bump ``schema_version`` (sqlite.org/lang_altertable.html,
"Making Other Kinds Of Table Schema Changes"). That is what this migration does, checking
that each rewrite matched exactly once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 21:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_NULLABLE = ("item_id", "schema_version_id")


def _sqlite_rewrite_events(replacements: list[tuple[str, str]]) -> None:
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'"
    ).scalar_one()
    for old, new in replacements:
        if sql.count(old) != 1:
            raise RuntimeError(f"events table SQL holds {old!r} {sql.count(old)} times; expected 1")
        sql = sql.replace(old, new)
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'events'", (sql,)
    )
    bind.exec_driver_sql(f"PRAGMA schema_version={version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    op.add_column(
        "events",
        sa.Column("hash_format", sa.Integer(), nullable=False, server_default=sa.text("1")),
    )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rewrite_events(
            [(f"\t{c} INTEGER NOT NULL, \n", f"\t{c} INTEGER, \n") for c in _NULLABLE]
        )
    else:
        for column in _NULLABLE:
            op.alter_column("events", column, existing_type=sa.BigInteger(), nullable=True)


def downgrade() -> None:
    bind = op.get_bind()
    loose = bind.exec_driver_sql(
        "SELECT count(*) FROM events WHERE item_id IS NULL OR schema_version_id IS NULL"
    ).scalar_one()
    if loose:
        raise RuntimeError(
            f"{loose} project-level events have no item or schema; they cannot be kept below 0003"
        )
    if bind.dialect.name == "sqlite":
        _sqlite_rewrite_events(
            [(f"\t{c} INTEGER, \n", f"\t{c} INTEGER NOT NULL, \n") for c in _NULLABLE]
        )
        bind.exec_driver_sql("ALTER TABLE events DROP COLUMN hash_format")
    else:
        for column in _NULLABLE:
            op.alter_column("events", column, existing_type=sa.BigInteger(), nullable=False)
        op.drop_column("events", "hash_format")
