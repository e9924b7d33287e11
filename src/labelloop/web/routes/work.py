"""People at work: the caller's next task, answers and skips (through the app's one
submission writer), reviewers' and experts' decisions, the annotation policy, people."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request

from labelloop.service.annotate import work
from labelloop.service.annotate.submit import Submission, SubmissionWriter
from labelloop.web.auth import ADMINS, REVIEWERS, Context, Member, context, member
from labelloop.web.errors import responses
from labelloop.web.models import (
    AnswerIn,
    DecisionIn,
    DecisionOut,
    NextTaskOut,
    PersonOut,
    PolicyIn,
    PolicyOut,
    SkipIn,
    SubmissionOut,
    TaskOut,
)

router = APIRouter(prefix="/projects/{project}", tags=["work"])

WORKERS = ("annotator", "expert")
DECIDERS = ("reviewer", "expert")
WAIT_S = 60.0
"""Longest a request waits for its group to commit."""

Assignment = Annotated[str, Path(description="The task's opaque assignment id.")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=100,
        description="Your key for this submission: a retry with the same key and content "
        "returns the original result; the same key with other content is a 422.",
    ),
]


def writer(request: Request) -> SubmissionWriter:
    found: SubmissionWriter = request.app.state.writer
    return found


@router.get(
    "/tasks/next",
    response_model=NextTaskOut,
    responses=responses(401, 403, 404, 422),
    summary="My current task, or a new lease (annotators, experts)",
)
def next_task(
    me: Annotated[Member, Depends(member(*WORKERS))],
    out: Annotated[SubmissionWriter, Depends(writer)],
) -> NextTaskOut:
    task = out.next_task(me.membership.labeler_id, timeout=WAIT_S, project=me.project)
    return NextTaskOut(task=None if task is None else TaskOut(**vars(task)))


def _submit(
    out: SubmissionWriter, me: Member, assignment: str, key: str, **content: Any
) -> SubmissionOut:
    """One submission through the app's writer; returns after its group committed."""
    sub = Submission(me.membership.labeler_id, assignment, key, **content)
    return SubmissionOut(**out.submit(sub, WAIT_S, project=me.project).as_dict())


@router.post(
    "/tasks/{assignment}/answer",
    response_model=SubmissionOut,
    responses=responses(401, 403, 404, 409, 422),
    summary="Answer my task; again within the undo window to change it (annotators, experts)",
)
def answer(
    assignment: Assignment,
    body: AnswerIn,
    key: IdempotencyKey,
    me: Annotated[Member, Depends(member(*WORKERS))],
    out: Annotated[SubmissionWriter, Depends(writer)],
) -> SubmissionOut:
    return _submit(out, me, assignment, key, label=body.label, time_spent_ms=body.time_spent_ms)


@router.post(
    "/tasks/{assignment}/skip",
    response_model=SubmissionOut,
    responses=responses(401, 403, 404, 409, 422),
    summary="Skip my task: cannot tell, or a bad item, with a comment (annotators, experts)",
)
def skip(
    assignment: Assignment,
    body: SkipIn,
    key: IdempotencyKey,
    me: Annotated[Member, Depends(member(*WORKERS))],
    out: Annotated[SubmissionWriter, Depends(writer)],
) -> SubmissionOut:
    fields = {"skip": body.reason, "comment": body.comment, "time_spent_ms": body.time_spent_ms}
    return _submit(out, me, assignment, key, **fields)


@router.post(
    "/decisions",
    response_model=DecisionOut,
    responses=responses(401, 403, 404, 409, 422),
    summary="Decide an item's label: an adjudication event aggregation keeps (reviewers, experts)",
)
def decide(
    body: DecisionIn,
    me: Annotated[Member, Depends(member(*DECIDERS))],
    ctx: Annotated[Context, Depends(context)],
) -> DecisionOut:
    seq = work.decide(
        ctx.store, me.project, me.membership.labeler_id, body.item, body.label, note=body.note
    )
    return DecisionOut(item=body.item, label=body.label, seq=seq)


@router.get(
    "/policy",
    response_model=PolicyOut,
    responses=responses(401, 403, 404),
    summary="How the project hands out work and judges people (admins)",
)
def get_policy(
    me: Annotated[Member, Depends(member(*ADMINS))],
    ctx: Annotated[Context, Depends(context)],
) -> Any:
    return work.get_policy(ctx.store, me.project).as_dict()


@router.put(
    "/policy",
    response_model=PolicyOut,
    responses=responses(401, 403, 404, 409, 422),
    summary="Change some policy settings (admins)",
)
def put_policy(
    body: PolicyIn,  # type: ignore[valid-type]
    me: Annotated[Member, Depends(member(*ADMINS))],
    ctx: Annotated[Context, Depends(context)],
) -> Any:
    changes = body.model_dump(exclude_none=True)  # type: ignore[attr-defined]
    return work.set_policy(ctx.store, me.project, **changes).as_dict()


@router.get(
    "/people",
    response_model=list[PersonOut],
    responses=responses(401, 403, 404),
    summary="Each person's stage, calibration round and flag (admins, reviewers)",
)
def people(
    me: Annotated[Member, Depends(member(*REVIEWERS))],
    ctx: Annotated[Context, Depends(context)],
) -> list[PersonOut]:
    return [PersonOut(**p) for p in work.people_status(ctx.store, me.project)]
