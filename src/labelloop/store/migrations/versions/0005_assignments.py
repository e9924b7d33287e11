"""People at work: per-person assignments with leases, annotator stages, adaptive overlap
state per item, and the project's annotation policy.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "annotation_policies",
        sa.Column("project_id", ID, nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        _fk("annotation_policies", "project_id", "projects"),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_annotation_policies")),
    )
    op.create_table(
        "annotators",
        sa.Column("labeler_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("flagged_at", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        _fk("annotators", "labeler_id", "labelers"),
        _fk("annotators", "project_id", "projects"),
        sa.PrimaryKeyConstraint("labeler_id", name=op.f("pk_annotators")),
    )
    op.create_table(
        "assignments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("item_id", ID, nullable=False),
        sa.Column("labeler_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("batch_item_id", ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("leased_at", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.String(length=32), nullable=False),
        sa.Column("closed_at", sa.String(length=32), nullable=True),
        sa.Column("event_id", ID, nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=True),
        _fk("assignments", "project_id", "projects"),
        _fk("assignments", "item_id", "items"),
        _fk("assignments", "labeler_id", "labelers"),
        _fk("assignments", "batch_item_id", "batch_items"),
        _fk("assignments", "event_id", "events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("public_id", name=op.f("uq_assignments_public_id")),
        sa.UniqueConstraint("labeler_id", "item_id", name="uq_assignments_labeler_item"),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index("ix_assignments_project_item", ["project_id", "item_id"])
        batch_op.create_index("ix_assignments_project_status", ["project_id", "status"])
    op.create_table(
        "item_work",
        sa.Column("item_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        _fk("item_work", "item_id", "items"),
        _fk("item_work", "project_id", "projects"),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_item_work")),
    )
    with op.batch_alter_table("item_work", schema=None) as batch_op:
        batch_op.create_index("ix_item_work_project_status", ["project_id", "status"])


def downgrade() -> None:
    with op.batch_alter_table("item_work", schema=None) as batch_op:
        batch_op.drop_index("ix_item_work_project_status")
    op.drop_table("item_work")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_assignments_project_status")
        batch_op.drop_index("ix_assignments_project_item")
    op.drop_table("assignments")
    op.drop_table("annotators")
    op.drop_table("annotation_policies")
