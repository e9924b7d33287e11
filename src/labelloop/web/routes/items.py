"""Items of a project, for reviewers and admins (annotators get opaque assignments instead)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from labelloop.service.source.items import list_items, show_item
from labelloop.web.auth import REVIEWERS, Context, Member, context, member
from labelloop.web.errors import responses
from labelloop.web.models import ItemDetailOut, ItemListOut, ItemOut

router = APIRouter(prefix="/projects/{project}/items", tags=["items"])


@router.get(
    "",
    response_model=ItemListOut,
    responses=responses(401, 403, 404, 422),
    summary="Items in import order, optionally in one state (reviewers, admins)",
)
def get_items(
    me: Annotated[Member, Depends(member(*REVIEWERS))],
    ctx: Annotated[Context, Depends(context)],
    state: Annotated[str | None, Query(description="Only items in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many items.")] = 50,
) -> ItemListOut:
    rows, total = list_items(ctx.store, me.project, state=state, limit=limit)
    return ItemListOut(total=total, items=[ItemOut(**r.as_dict()) for r in rows])


@router.get(
    "/{key:path}",
    response_model=ItemDetailOut,
    responses=responses(401, 403, 404),
    summary="One item with its batches and every event (reviewers, admins)",
)
def get_item(
    key: Annotated[str, Path(description="The item key.")],
    me: Annotated[Member, Depends(member(*REVIEWERS))],
    ctx: Annotated[Context, Depends(context)],
) -> ItemDetailOut:
    return ItemDetailOut.model_validate(show_item(ctx.store, me.project, key).as_dict())
