"""Projects the caller belongs to, a project's summary, and its members (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from labelloop.service.project import accounts
from labelloop.service.project.status import project_status
from labelloop.web.auth import (
    ADMINS,
    ALL_ROLES,
    Caller,
    Context,
    Member,
    caller,
    context,
    member,
)
from labelloop.web.errors import responses
from labelloop.web.models import (
    MemberOut,
    ProjectRoleOut,
    ProjectSummaryOut,
    RoleIn,
    SuspendedIn,
)
from labelloop.web.routes.session import project_roles

router = APIRouter(prefix="/projects", tags=["projects"])

UserName = Annotated[str, Path(description="User name.")]


@router.get(
    "",
    response_model=list[ProjectRoleOut],
    responses=responses(401),
    summary="The projects I belong to, with my role",
)
def list_projects(
    who: Annotated[Caller, Depends(caller)], ctx: Annotated[Context, Depends(context)]
) -> list[ProjectRoleOut]:
    return project_roles(accounts.memberships(ctx.store, who.user))


@router.get(
    "/{project}",
    response_model=ProjectSummaryOut,
    response_model_by_alias=True,
    responses=responses(401, 404),
    summary="A project's status: items per stage, answers, gold, schema, queue",
)
def project_summary(
    me: Annotated[Member, Depends(member(*ALL_ROLES, suspended_ok=True))],
    ctx: Annotated[Context, Depends(context)],
) -> ProjectSummaryOut:
    status = project_status(ctx.store, me.project)
    return ProjectSummaryOut.model_validate({**status, "role": me.membership.role})


def _member_out(m: accounts.Membership) -> MemberOut:
    return MemberOut(
        user=m.user_name,
        role=m.role,  # type: ignore[arg-type]
        suspended=m.suspended,
        labeler=m.labeler,
        updated_at=m.updated_at,
    )


@router.get(
    "/{project}/members",
    response_model=list[MemberOut],
    responses=responses(401, 403, 404),
    summary="Members and their roles (admins)",
)
def list_members(
    me: Annotated[Member, Depends(member(*ADMINS))],
    ctx: Annotated[Context, Depends(context)],
) -> list[MemberOut]:
    return [_member_out(m) for m in accounts.list_members(ctx.store, me.project)]


@router.put(
    "/{project}/members/{user}",
    response_model=MemberOut,
    responses=responses(401, 403, 404, 409, 422),
    summary="Add a user to the project or change their role (admins); a role event",
)
def put_member(
    user: UserName,
    body: RoleIn,
    me: Annotated[Member, Depends(member(*ADMINS))],
    ctx: Annotated[Context, Depends(context)],
) -> MemberOut:
    changed = accounts.set_role(
        ctx.store, me.project, user, body.role, actor=me.caller.user.name, source="api"
    )
    return _member_out(changed)


@router.put(
    "/{project}/members/{user}/suspended",
    response_model=MemberOut,
    responses=responses(401, 403, 404, 409, 422),
    summary="Suspend a member or reinstate them (admins); a labeler_status event",
)
def put_suspended(
    user: UserName,
    body: SuspendedIn,
    me: Annotated[Member, Depends(member(*ADMINS))],
    ctx: Annotated[Context, Depends(context)],
) -> MemberOut:
    changed = accounts.set_suspended(
        ctx.store, me.project, user, body.suspended, actor=me.caller.user.name, source="api"
    )
    return _member_out(changed)
