"""The caller's API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from labelloop.service.project import accounts
from labelloop.web.auth import Caller, Context, caller, context
from labelloop.web.errors import responses
from labelloop.web.models import NewTokenOut, TokenIn, TokenOut

router = APIRouter(prefix="/me/tokens", tags=["tokens"])


def _out(token: accounts.ApiToken) -> TokenOut:
    return TokenOut(id=token.id, name=token.name, created_at=token.created_at)


@router.get("", response_model=list[TokenOut], responses=responses(401), summary="My API tokens")
def list_tokens(
    who: Annotated[Caller, Depends(caller)], ctx: Annotated[Context, Depends(context)]
) -> list[TokenOut]:
    return [_out(t) for t in accounts.list_api_tokens(ctx.store, who.user)]


@router.post(
    "",
    status_code=201,
    response_model=NewTokenOut,
    responses=responses(401, 403, 422),
    summary="A new API token (its secret is shown once)",
)
def create_token(
    body: TokenIn,
    who: Annotated[Caller, Depends(caller)],
    ctx: Annotated[Context, Depends(context)],
) -> NewTokenOut:
    token, secret = accounts.create_api_token(ctx.store, ctx.keys, who.user, body.name)
    return NewTokenOut(**_out(token).model_dump(), token=secret)


@router.delete(
    "/{token_id}",
    status_code=204,
    responses=responses(401, 403, 404, 422),
    summary="Revoke one of my API tokens",
)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="The token's id.")],
    who: Annotated[Caller, Depends(caller)],
    ctx: Annotated[Context, Depends(context)],
) -> None:
    accounts.revoke_api_token(ctx.store, who.user, token_id)
