"""Tables (SQLAlchemy Core). Migrations in `migrations/` create exactly these; a test checks it.

Events are append-only (database triggers reject UPDATE and DELETE); everything else that
changes (current label, current gold, chain head) is derived state kept beside them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from labelloop.core.provenance import EVENT_TYPES as _EVENT_TYPES

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = BigInteger().with_variant(Integer(), "sqlite")

projects = Table(
    "projects",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
    Column("schema_version_id", ID, nullable=True),  # current schema version (derived)
    Column("event_seq", BigInteger, nullable=False, default=0),  # chain head (derived)
    Column("head_hash", String(64), nullable=False),
)

schema_versions = Table(
    "schema_versions",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("version", String(100), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("is_open", Boolean, nullable=False),
    Column("body", Text, nullable=False),  # canonical JSON of the schema
    Column("source", Text, nullable=True),  # file it was loaded from
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("project_id", "content_hash", name="uq_schema_versions_project_hash"),
)

items = Table(
    "items",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("key", String(300), nullable=False),  # external id, else "sha256:<content hash>"
    Column("external_id", String(300), nullable=True),
    Column("content_hash", String(64), nullable=False),
    Column("data", Text, nullable=False),  # canonical JSON
    Column("meta", Text, nullable=False),  # canonical JSON ("metadata" is reserved by SQLAlchemy)
    Column("media", Text, nullable=True),
    Column("source", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("project_id", "key", name="uq_items_project_key"),
    Index("ix_items_project_content", "project_id", "content_hash"),
)

labelers = Table(
    "labelers",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(300), nullable=False),
    Column("version", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("project_id", "kind", "name", "version", name="uq_labelers_identity"),
)

events = Table(
    "events",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("type", String(16), nullable=False),
    Column("item_id", ID, ForeignKey("items.id"), nullable=True),  # None: project-level event
    Column("labeler_id", ID, ForeignKey("labelers.id"), nullable=True),
    Column("label", Text, nullable=True),  # canonical JSON: a string, a list, or null
    Column("schema_version_id", ID, ForeignKey("schema_versions.id"), nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("time_spent_ms", BigInteger, nullable=True),
    Column("suggestion", Text, nullable=True),  # canonical JSON of what the labeler was shown
    Column("calibration_score", Float, nullable=True),
    Column("source", String(16), nullable=False),
    Column("idempotency_key", String(128), nullable=True),
    Column("corrects_event_id", ID, ForeignKey("events.id"), nullable=True),
    Column("payload", Text, nullable=True),  # canonical JSON: method, params, confidence, ...
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("hash_format", Integer, nullable=False, server_default=text("1")),  # provenance.py
    UniqueConstraint("project_id", "seq", name="uq_events_project_seq"),
    UniqueConstraint("project_id", "idempotency_key", name="uq_events_project_idempotency"),
    Index("ix_events_item", "item_id"),
)

gold = Table(  # derived: current gold label per item, from the latest gold event
    "gold",
    metadata,
    Column("item_id", ID, ForeignKey("items.id"), primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("label", Text, nullable=False),
    Column("is_calibration", Boolean, nullable=False),
    Column("event_id", ID, ForeignKey("events.id"), nullable=False),
    Index("ix_gold_project", "project_id"),
)

item_state = Table(  # derived: current label per item, from the latest adjudication event
    "item_state",
    metadata,
    Column("item_id", ID, ForeignKey("items.id"), primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("label", Text, nullable=True),
    Column("confidence", Float, nullable=True),
    Column("event_id", ID, ForeignKey("events.id"), nullable=False),
    Index("ix_item_state_project", "project_id"),
)

EVENT_TYPES = tuple(_EVENT_TYPES)
"""Names of the event types; what each must carry is in core.provenance.EVENT_TYPES."""
LABELER_KINDS = ("human", "model", "llm", "rule", "expert")
PERSON_KINDS = ("human", "expert")
"""Labeler kinds that are people: their answers close queued work and count as labeled."""
SOURCES = ("import", "api", "ui", "cli", "model", "model_auto", "rule", "aggregate")


# ---------------------------------------------------------------- active learning and routing

routing_policies = Table(  # one row per project; absent = defaults (see service.sample.routing)
    "routing_policies",
    metadata,
    Column("project_id", ID, ForeignKey("projects.id"), primary_key=True),
    Column("target_precision", Float, nullable=False),
    Column("audit_fraction", Float, nullable=False),
    Column("show_suggestion", Boolean, nullable=False),
    Column("updated_at", String(32), nullable=False),
)

batches = Table(  # a stored selection of items for humans: sampled, routed or audited
    "batches",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # BATCH_KINDS
    Column("strategy", String(100), nullable=False),  # sampling strategy or routing policy name
    Column("params", Text, nullable=False),  # canonical JSON
    Column("labeler_id", ID, ForeignKey("labelers.id"), nullable=True),  # model whose scores
    Column("created_at", String(32), nullable=False),
    Index("ix_batches_project", "project_id"),
)

batch_items = Table(  # status is derived work state (queued -> in_flight -> done), not a label
    "batch_items",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("batch_id", ID, ForeignKey("batches.id"), nullable=False),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("item_id", ID, ForeignKey("items.id"), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("score", Float, nullable=True),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),  # BATCH_ITEM_STATUSES
    Column("suggestion", Text, nullable=True),  # canonical JSON: model label + confidence
    Column("show_suggestion", Boolean, nullable=False),
    UniqueConstraint("batch_id", "item_id", name="uq_batch_items_batch_item"),
    Index("ix_batch_items_project_status", "project_id", "status"),
    Index("ix_batch_items_item", "item_id"),
)

BATCH_KINDS = ("sample", "route", "audit")
BATCH_ITEM_STATUSES = ("queued", "in_flight", "done")
OPEN_BATCH_ITEM_STATUSES = ("queued", "in_flight")


# ---------------------------------------------------------------- accounts (the server)

users = Table(  # people who sign in; no default user, no stored password in clear
    "users",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),  # argon2id, PHC string
    Column("created_at", String(32), nullable=False),
)

memberships = Table(  # a user's role in one project; role changes are `role` events too
    "memberships",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("role", String(16), nullable=False),  # ROLES
    Column("labeler_id", ID, ForeignKey("labelers.id"), nullable=False),  # human or expert
    Column("suspended", Boolean, nullable=False),
    Column("updated_at", String(32), nullable=False),
    UniqueConstraint("user_id", "project_id", name="uq_memberships_user_project"),
    Index("ix_memberships_project", "project_id"),
)

sessions = Table(  # signed-in browsers; the cookie holds a random id, this its keyed hash
    "sessions",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
)

api_tokens = Table(  # bearer tokens for scripts; shown once, stored as a keyed hash
    "api_tokens",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
    Index("ix_api_tokens_user", "user_id"),
)

login_failures = Table(  # failed sign-ins, for the per-account and per-address limits
    "login_failures",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("user_name", String(200), nullable=False),
    Column("address", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_login_failures_user_name", "user_name", "created_at"),
    Index("ix_login_failures_address", "address", "created_at"),
)

ROLES = ("admin", "reviewer", "expert", "annotator")
"""Project roles. An expert answers as an `expert` labeler, the others as `human`."""
