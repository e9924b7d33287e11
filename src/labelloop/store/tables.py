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

routing_policies = Table(  # one row per project; absent = defaults (core.routing.RoutingPolicy)
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


# ---------------------------------------------------------------- people at work (assignments)

annotation_policies = Table(  # one row per project; absent = defaults (service.annotate.work)
    "annotation_policies",
    metadata,
    Column("project_id", ID, ForeignKey("projects.id"), primary_key=True),
    Column("params", Text, nullable=False),  # canonical JSON of the policy
    Column("updated_at", String(32), nullable=False),
)

annotators = Table(  # derived: a person's stage, from their latest labeler_status event
    "annotators",
    metadata,
    Column("labeler_id", ID, ForeignKey("labelers.id"), primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("stage", String(16), nullable=False),  # ANNOTATOR_STAGES
    Column("round", Integer, nullable=False),  # calibration round (1, 2, ... after suspension)
    Column("flagged_at", Integer, nullable=True),  # graded answers when flagged; None: not
    Column("updated_at", String(32), nullable=False),
)

assignments = Table(  # work state: one row per (person, item) ever handed out
    "assignments",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("public_id", String(32), nullable=False, unique=True),  # random, opaque
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("item_id", ID, ForeignKey("items.id"), nullable=False),
    Column("labeler_id", ID, ForeignKey("labelers.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # ASSIGNMENT_KINDS
    Column("round", Integer, nullable=False),
    Column("batch_item_id", ID, ForeignKey("batch_items.id"), nullable=True),
    Column("status", String(16), nullable=False),  # ASSIGNMENT_STATUSES
    Column("leased_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("closed_at", String(32), nullable=True),
    Column("event_id", ID, ForeignKey("events.id"), nullable=True),  # the answer
    Column("correct", Boolean, nullable=True),  # gold and calibration: answer equals gold
    UniqueConstraint("labeler_id", "item_id", name="uq_assignments_labeler_item"),
    Index("ix_assignments_project_item", "project_id", "item_id"),
    Index("ix_assignments_project_status", "project_id", "status"),
)

item_work = Table(  # derived: how far an item is in adaptive overlap
    "item_work",
    metadata,
    Column("item_id", ID, ForeignKey("items.id"), primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("status", String(16), nullable=False),  # ITEM_WORK_STATUSES
    Column("answers", Integer, nullable=False),
    Column("label", Text, nullable=True),  # canonical JSON of the posterior's top class
    Column("confidence", Float, nullable=True),
    Column("updated_at", String(32), nullable=False),
    Index("ix_item_work_project_status", "project_id", "status"),
)

ANNOTATOR_STAGES = ("calibration", "production")
ASSIGNMENT_KINDS = ("calibration", "gold", "work", "expert")
ASSIGNMENT_STATUSES = ("leased", "submitted", "skipped", "expired")
ITEM_WORK_STATUSES = ("open", "done", "expert", "decided")

# ---------------------------------------------------------------- checkpoints and releases

merkle_frontiers = Table(  # derived: the RFC 6962 tree over the project's events, so far
    "merkle_frontiers",
    metadata,
    Column("project_id", ID, ForeignKey("projects.id"), primary_key=True),
    Column("size", BigInteger, nullable=False),  # events in the tree
    Column("hashes", Text, nullable=False),  # hex roots of its perfect subtrees, largest first
)

merkle_nodes = Table(  # derived: roots of complete subtrees of 2**level events (level >= 8)
    "merkle_nodes",
    metadata,
    Column("project_id", ID, ForeignKey("projects.id"), primary_key=True),
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
)

project_keys = Table(  # public halves of the projects' Ed25519 checkpoint keys
    "project_keys",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("key_id", String(64), nullable=False),  # hex SHA-256 of the raw public key
    Column("public_key", String(64), nullable=False),  # raw 32 bytes, hex
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("project_id", "key_id", name="uq_project_keys_project_key"),
)

releases = Table(  # dataset versions; each is also a `release` event (event_id)
    "releases",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("event_id", ID, ForeignKey("events.id"), nullable=False),
    Column("parent_id", ID, ForeignKey("releases.id"), nullable=True),
    Column("body", Text, nullable=False),  # canonical JSON: the release event's payload
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("project_id", "name", name="uq_releases_project_name"),
)

release_labels = Table(  # one final label per item of a release
    "release_labels",
    metadata,
    Column("release_id", ID, ForeignKey("releases.id"), primary_key=True),
    Column("item_id", ID, ForeignKey("items.id"), primary_key=True),
    Column("label", Text, nullable=False),  # canonical JSON
    Column("confidence", Float, nullable=True),
    Column("soft_label", Text, nullable=True),  # canonical JSON {label: probability}
    Column("source", String(16), nullable=False),  # gold | correction | aggregate
    Column("event_seq", BigInteger, nullable=True),  # the gold / correction event
    Column("answers", Text, nullable=False),  # canonical JSON: seqs of the answers used
    Column("split", String(16), nullable=False),
)

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
