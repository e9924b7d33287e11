"""Request and response bodies of the JSON API (never stored rows)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["admin", "reviewer", "expert", "annotator"]
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
"""No control characters (PostgreSQL text cannot hold NUL; names never need them)."""
NAMED = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
"""Printable, and not only white space (names are stored stripped)."""
PRINTABLE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""Free text: no control characters but tab and line breaks."""


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """Every error: what was wrong, and for a bad request each problem found."""

    detail: str
    errors: list[dict[str, Any]] | None = None


class LoginIn(Body):
    name: str = Field(min_length=1, max_length=200, pattern=PRINTABLE)
    password: str = Field(min_length=1, max_length=1000)


class SessionOut(BaseModel):
    user: str
    csrf_token: str
    """Send it back as the X-CSRF-Token header on every POST, PUT, PATCH and DELETE."""
    expires_at: str


class ProjectRoleOut(BaseModel):
    project: str
    role: Role
    suspended: bool


class MeOut(BaseModel):
    name: str
    auth: Literal["session", "token"]
    csrf_token: str | None
    """The session's CSRF token (None with an API token, which needs none)."""
    projects: list[ProjectRoleOut]


class TokenIn(Body):
    name: str = Field(
        min_length=1, max_length=200, pattern=NAMED, description="What the token is for."
    )


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: str


class NewTokenOut(TokenOut):
    token: str
    """The secret, shown this once: send it as `Authorization: Bearer <token>`."""


class StagesOut(BaseModel):
    unlabeled: int
    answered: int
    adjudicated: int
    gold: int
    calibration_gold: int


class KindCountsOut(BaseModel):
    labelers: int
    answers: int


class SchemaOut(BaseModel):
    version: str
    content_hash: str
    open: bool
    labels: list[str]


class ProjectSummaryOut(BaseModel):
    project: str
    role: Role
    items: int
    answers: int
    gold: int
    labelers: int
    events: int
    stages: StagesOut
    by_labeler_kind: dict[str, KindCountsOut]
    schema_: SchemaOut | None = Field(alias="schema", serialization_alias="schema")
    schema_versions: int
    batch_items: dict[str, int]

    model_config = ConfigDict(populate_by_name=True)


class MemberOut(BaseModel):
    user: str
    role: Role
    suspended: bool
    labeler: dict[str, str]
    """The labeler the member answers as: kind (human or expert), name, version."""
    updated_at: str


class RoleIn(Body):
    role: Role


class SuspendedIn(Body):
    suspended: bool


class ItemOut(BaseModel):
    key: str
    state: str
    label: Any
    label_source: str | None
    answers: int
    data: dict[str, Any]


class ItemListOut(BaseModel):
    total: int
    """How many items match (the list holds at most `limit`)."""
    items: list[ItemOut]


class ItemEventOut(BaseModel):
    seq: int
    type: str
    label: Any
    labeler: dict[str, str] | None
    schema_version: str
    source: str
    created_at: str
    time_spent_ms: int | None
    suggestion: Any
    calibration_score: float | None
    corrects_event: int | None
    payload: dict[str, Any] | None
    hash: str


class ItemDetailOut(ItemOut):
    external_id: str | None
    content_hash: str
    meta: dict[str, Any]
    media: str | None
    source: str | None
    created_at: str
    batches: list[dict[str, Any]]
    events: list[ItemEventOut]


class TaskOut(BaseModel):
    """One task: nothing in it tells calibration, gold and production items apart."""

    assignment: str
    """Opaque id of this assignment; answer or skip it by this id."""
    data: dict[str, Any]
    """The item's fields the schema declares."""
    schema_version: str
    expires_at: str
    """When the lease ends and the item returns to the queue."""


class NextTaskOut(BaseModel):
    task: TaskOut | None
    """None when there is nothing for the caller now."""


class AnswerIn(Body):
    label: str | list[str] = Field(
        description="A label of the schema (a list of labels for a multi-label schema)."
    )
    time_spent_ms: int | None = Field(default=None, ge=0, le=86_400_000)


class SkipIn(Body):
    reason: Literal["cannot_tell", "bad_item"]
    comment: str | None = Field(default=None, max_length=2000, pattern=PRINTABLE_TEXT)
    time_spent_ms: int | None = Field(default=None, ge=0, le=86_400_000)


class SubmissionOut(BaseModel):
    assignment: str
    event_id: int
    seq: int
    type: Literal["answer", "correction", "adjudication", "flag"]
    replayed: bool
    """True when the Idempotency-Key was seen before: this is the original result."""


class DecisionIn(Body):
    item: str = Field(min_length=1, max_length=1000, pattern=PRINTABLE)
    label: str = Field(min_length=1, max_length=1000, pattern=PRINTABLE)
    note: str | None = Field(default=None, max_length=2000, pattern=PRINTABLE_TEXT)


class DecisionOut(BaseModel):
    item: str
    label: str
    seq: int
    """The adjudication event's sequence number in the project's chain."""


class PersonOut(BaseModel):
    labeler_id: int
    stage: Literal["calibration", "production"]
    round: int
    """Calibration round: 1, then one more each time the person is sent back."""
    flagged_at: int | None
    """Graded answers at the flag, while flagged."""


MAX_SETTING = 1_000_000_000
"""Largest whole-number policy setting (a lease of 30 years; beyond, dates overflow)."""


def _policy_models() -> tuple[type[BaseModel], type[BaseModel]]:
    """The policy's response and request bodies, from its one definition in the service."""
    from dataclasses import MISSING, fields

    from pydantic import create_model

    from labelloop.service.annotate.work import AnnotationPolicy

    found = [
        (f.name, type(f.default)) for f in fields(AnnotationPolicy) if f.default is not MISSING
    ]
    out = create_model(  # type: ignore[call-overload]
        "PolicyOut",
        __doc__="How the project hands out work and judges people.",
        **{name: (kind, ...) for name, kind in found},
    )
    into = create_model(  # type: ignore[call-overload]
        "PolicyIn",
        __base__=Body,
        __doc__="Policy settings to change; the others keep their values.",
        **{
            name: (kind | None, Field(default=None, le=MAX_SETTING) if kind is int else None)
            for name, kind in found
        },
    )
    return out, into


PolicyOut, PolicyIn = _policy_models()
