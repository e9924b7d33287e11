"""Sign in and out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from labelloop.errors import InvalidInput
from labelloop.service.project import accounts
from labelloop.web.auth import SESSION_COOKIE, Caller, Context, caller, context
from labelloop.web.errors import responses
from labelloop.web.models import LoginIn, MeOut, ProjectRoleOut, SessionOut

router = APIRouter(tags=["session"])


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def set_session_cookie(
    request: Request, response: Response, ctx: Context, signed_in: accounts.SignIn
) -> None:
    """HttpOnly, SameSite=Lax, and Secure when the request came over TLS."""
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.session,
        max_age=int(ctx.settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.post(
    "/auth/login",
    response_model=SessionOut,
    responses=responses(401, 422, 429),
    summary="Sign in: sets the session cookie and returns its CSRF token",
)
def login(
    body: LoginIn,
    request: Request,
    response: Response,
    ctx: Annotated[Context, Depends(context)],
) -> SessionOut:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/json":  # a cross-site form cannot send JSON unasked
        raise InvalidInput(f"expected Content-Type application/json, saw {content_type!r}")
    signed_in = accounts.sign_in(
        ctx.store, ctx.keys, ctx.settings, body.name, body.password, client_address(request)
    )
    set_session_cookie(request, response, ctx, signed_in)
    return SessionOut(
        user=signed_in.user.name,
        csrf_token=accounts.csrf_token(ctx.keys, signed_in.session),
        expires_at=signed_in.expires_at.isoformat(),
    )


@router.post(
    "/auth/logout",
    status_code=204,
    responses=responses(401, 403),
    summary="Sign out: ends the session",
)
def logout(
    response: Response,
    who: Annotated[Caller, Depends(caller)],
    ctx: Annotated[Context, Depends(context)],
) -> None:
    if who.session is not None:
        accounts.sign_out(ctx.store, ctx.keys, who.session)
    response.delete_cookie(SESSION_COOKIE, path="/")


def project_roles(memberships: list[accounts.Membership]) -> list[ProjectRoleOut]:
    return [
        ProjectRoleOut(project=m.project_name, role=m.role, suspended=m.suspended)  # type: ignore[arg-type]
        for m in memberships
    ]


@router.get("/me", response_model=MeOut, responses=responses(401), summary="The signed-in user")
def me(who: Annotated[Caller, Depends(caller)], ctx: Annotated[Context, Depends(context)]) -> MeOut:
    return MeOut(
        name=who.user.name,
        auth="session" if who.session else "token",
        csrf_token=None if who.session is None else accounts.csrf_token(ctx.keys, who.session),
        projects=project_roles(accounts.memberships(ctx.store, who.user)),
    )
