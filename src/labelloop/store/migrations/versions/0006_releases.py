"""Releases: dataset versions with signed checkpoints of the event log.

Adds the incremental RFC 6962 tree over each project's events (``merkle_frontiers``: the
roots of the perfect subtrees so far; ``merkle_nodes``: complete subtrees of 256 events and
more, for proofs), the public halves of the projects' Ed25519 keys (``project_keys``) and the
releases with their labels (``releases``, ``release_labels``). Projects with events get their
tree on the next append or release (read once from the events, then kept incrementally).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 23:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "merkle_frontiers",
        sa.Column("project_id", ID, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("hashes", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_merkle_frontiers_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_merkle_frontiers")),
    )
    op.create_table(
        "merkle_nodes",
        sa.Column("project_id", ID, nullable=False),
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_merkle_nodes_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("project_id", "level", "idx", name=op.f("pk_merkle_nodes")),
    )
    op.create_table(
        "project_keys",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_keys_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_keys")),
        sa.UniqueConstraint("project_id", "key_id", name="uq_project_keys_project_key"),
    )
    op.create_table(
        "releases",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_releases_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_releases_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["releases.id"], name=op.f("fk_releases_parent_id_releases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint("project_id", "name", name="uq_releases_project_name"),
    )
    op.create_table(
        "release_labels",
        sa.Column("release_id", ID, nullable=False),
        sa.Column("item_id", ID, nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("soft_label", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=True),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("split", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"], ["releases.id"], name=op.f("fk_release_labels_release_id_releases")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_release_labels_item_id_items")
        ),
        sa.PrimaryKeyConstraint("release_id", "item_id", name=op.f("pk_release_labels")),
    )


def downgrade() -> None:
    for table in ("release_labels", "releases", "project_keys", "merkle_nodes", "merkle_frontiers"):
        op.drop_table(table)
