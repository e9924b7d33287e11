"""Who is calling: the session cookie or bearer token, the CSRF check, and the one
dependency that resolves "this user in this project with this role"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from labelloop.errors import Forbidden, NotFound, Unauthenticated
from labelloop.service.project import accounts
from labelloop.service.project.workspace import Workspace
from labelloop.settings import Settings

SESSION_COOKIE = "labelloop_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Context:
    """What every request needs: the workspace, the keys from its secret, settings."""

    workspace: Workspace
    keys: accounts.Keys
    settings: Settings

    @property
    def store(self) -> Any:  # the workspace's Store
        return self.workspace.store


@dataclass(frozen=True)
class Caller:
    user: accounts.User
    session: str | None
    """The session id when signed in by cookie; None with an API token."""


@dataclass(frozen=True)
class Member:
    """The caller in one project, with their role there."""

    caller: Caller
    membership: accounts.Membership

    @property
    def project(self) -> str:
        return self.membership.project_name


def context(request: Request) -> Context:
    ctx: Context = request.app.state.context
    return ctx


_bearer = HTTPBearer(auto_error=False, description="An API token from POST /api/v1/me/tokens.")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The session cookie set by POST /api/v1/auth/login; unsafe requests also "
    f"need the {CSRF_HEADER} header.",
)


def caller(
    request: Request,
    ctx: Annotated[Context, Depends(context)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Depends(_cookie)],
) -> Caller:
    """The signed-in user (401 otherwise). A cookie-authenticated unsafe request must carry
    the session's CSRF token (403 otherwise); a bearer token needs none."""
    if request.headers.get("authorization"):
        if bearer is None:
            raise Unauthenticated("expected an 'Authorization: Bearer <token>' header")
        user = accounts.token_user(ctx.store, ctx.keys, bearer.credentials)
        if user is None:
            raise Unauthenticated("the API token is unknown or was revoked")
        return Caller(user, None)
    if not session:
        raise Unauthenticated("sign in first (POST /api/v1/auth/login) or send an API token")
    user = accounts.session_user(ctx.store, ctx.keys, session)
    if user is None:
        raise Unauthenticated("the session has ended; sign in again")
    if request.method not in SAFE_METHODS and not accounts.csrf_matches(
        ctx.keys, session, request.headers.get(CSRF_HEADER)
    ):
        raise Forbidden(
            f"missing or wrong {CSRF_HEADER} header; a signed-in browser request that changes "
            "anything must send the token from sign-in or GET /api/v1/me"
        )
    return Caller(user, session)


def member(*roles: str, suspended_ok: bool = False) -> Callable[..., Member]:
    """A dependency: the caller as a member of the path's project with one of ``roles``.

    Anything outside that (no such project, not a member, another role) answers 404, the
    same answer whether the project exists or not. A suspended member gets 403 unless
    ``suspended_ok``.
    """
    allowed = frozenset(roles)

    def dependency(
        project: Annotated[str, Path(description="Project name.")],
        who: Annotated[Caller, Depends(caller)],
        ctx: Annotated[Context, Depends(context)],
    ) -> Member:
        found = accounts.membership(ctx.store, who.user, project)
        if found is None or found.role not in allowed:
            raise NotFound(f"project {project!r} not found")
        if found.suspended and not suspended_ok:
            raise Forbidden(f"your membership of project {project!r} is suspended")
        return Member(who, found)

    return dependency


ALL_ROLES = accounts.ROLES
REVIEWERS = ("admin", "reviewer")
ADMINS = ("admin",)
