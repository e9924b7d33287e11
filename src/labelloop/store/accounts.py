"""Users, project memberships, sessions, API tokens and failed sign-ins (all the accounts SQL).

Secrets never reach this module: sessions and tokens are looked up by their keyed hash, and
passwords are stored as the argon2id strings the service made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from labelloop.errors import Conflict
from labelloop.store import tables as t
from labelloop.store.engine import Connection
from labelloop.store.repo import Project, now_iso


@dataclass(frozen=True)
class User:
    id: int
    name: str
    password_hash: str
    created_at: str


@dataclass(frozen=True)
class Membership:
    user_id: int
    user_name: str
    project_id: int
    project_name: str
    role: str
    labeler_id: int
    labeler: dict[str, str]
    """kind (human or expert), name and version of the labeler the member answers as."""
    suspended: bool
    updated_at: str


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    created_at: str


def _user(row: Any) -> User:
    return User(int(row.id), row.name, row.password_hash, row.created_at)


# ---------------------------------------------------------------- users


def create_user(conn: Connection, name: str, password_hash: str) -> User:
    if get_user(conn, name) is not None:
        raise Conflict(f"user {name!r} already exists")
    conn.execute(
        insert(t.users).values(name=name, password_hash=password_hash, created_at=now_iso())
    )
    user = get_user(conn, name)
    assert user is not None  # just inserted in this transaction
    return user


def get_user(conn: Connection, name: str) -> User | None:
    row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
    return None if row is None else _user(row)


def count_users(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(t.users)).scalar_one())


# ---------------------------------------------------------------- memberships


def _memberships(conn: Connection, *where: Any) -> list[Membership]:
    m, u, p, lb = t.memberships, t.users, t.projects, t.labelers
    rows = conn.execute(
        select(
            m.c.user_id,
            u.c.name.label("user_name"),
            m.c.project_id,
            p.c.name.label("project_name"),
            m.c.role,
            m.c.labeler_id,
            lb.c.kind,
            lb.c.name.label("labeler_name"),
            lb.c.version,
            m.c.suspended,
            m.c.updated_at,
        )
        .select_from(
            m.join(u, m.c.user_id == u.c.id)
            .join(p, m.c.project_id == p.c.id)
            .join(lb, m.c.labeler_id == lb.c.id)
        )
        .where(*where)
        .order_by(p.c.name, u.c.name)
    )
    return [
        Membership(
            int(r.user_id),
            r.user_name,
            int(r.project_id),
            r.project_name,
            r.role,
            int(r.labeler_id),
            {"kind": r.kind, "name": r.labeler_name, "version": r.version},
            bool(r.suspended),
            r.updated_at,
        )
        for r in rows
    ]


def get_membership(conn: Connection, user_id: int, project_name: str) -> Membership | None:
    """The user's membership of the named project, or None (no such project, or not a member)."""
    found = _memberships(
        conn, t.memberships.c.user_id == user_id, t.projects.c.name == project_name
    )
    return found[0] if found else None


def memberships_of_user(conn: Connection, user_id: int) -> list[Membership]:
    return _memberships(conn, t.memberships.c.user_id == user_id)


def members_of_project(conn: Connection, project: Project) -> list[Membership]:
    return _memberships(conn, t.memberships.c.project_id == project.id)


def put_membership(
    conn: Connection, user: User, project: Project, role: str, labeler_id: int
) -> None:
    """Add the user to the project with ``role``, or change their role (and labeler)."""
    m = t.memberships
    values = {"role": role, "labeler_id": labeler_id, "updated_at": now_iso()}
    changed = conn.execute(
        update(m).where(m.c.user_id == user.id, m.c.project_id == project.id).values(**values)
    ).rowcount
    if not changed:
        conn.execute(
            insert(m).values(user_id=user.id, project_id=project.id, suspended=False, **values)
        )


def set_suspended(conn: Connection, user_id: int, project_id: int, suspended: bool) -> None:
    m = t.memberships
    conn.execute(
        update(m)
        .where(m.c.user_id == user_id, m.c.project_id == project_id)
        .values(suspended=suspended, updated_at=now_iso())
    )


# ---------------------------------------------------------------- sessions


def add_session(conn: Connection, user_id: int, token_hash: str, expires_at: str) -> None:
    conn.execute(
        insert(t.sessions).values(
            user_id=user_id, token_hash=token_hash, created_at=now_iso(), expires_at=expires_at
        )
    )


def session_user(conn: Connection, token_hash: str, now: str) -> User | None:
    """The user of an unexpired session, or None."""
    s, u = t.sessions, t.users
    row = conn.execute(
        select(u)
        .select_from(s.join(u, s.c.user_id == u.c.id))
        .where(s.c.token_hash == token_hash, s.c.expires_at > now)
    ).first()
    return None if row is None else _user(row)


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(t.sessions).where(t.sessions.c.token_hash == token_hash))


def delete_expired_sessions(conn: Connection, now: str) -> None:
    conn.execute(delete(t.sessions).where(t.sessions.c.expires_at <= now))


# ---------------------------------------------------------------- API tokens


def add_token(conn: Connection, user_id: int, name: str, token_hash: str) -> ApiToken:
    stamp = now_iso()
    conn.execute(
        insert(t.api_tokens).values(
            user_id=user_id, name=name, token_hash=token_hash, created_at=stamp
        )
    )
    row = conn.execute(
        select(t.api_tokens.c.id).where(t.api_tokens.c.token_hash == token_hash)
    ).one()
    return ApiToken(int(row.id), name, stamp)


def tokens_of_user(conn: Connection, user_id: int) -> list[ApiToken]:
    a = t.api_tokens
    rows = conn.execute(
        select(a.c.id, a.c.name, a.c.created_at).where(a.c.user_id == user_id).order_by(a.c.id)
    )
    return [ApiToken(int(r.id), r.name, r.created_at) for r in rows]


def delete_token(conn: Connection, user_id: int, token_id: int) -> bool:
    """Delete one of the user's tokens; False when the user has no token with that id."""
    a = t.api_tokens
    return bool(conn.execute(delete(a).where(a.c.id == token_id, a.c.user_id == user_id)).rowcount)


def token_user(conn: Connection, token_hash: str) -> User | None:
    a, u = t.api_tokens, t.users
    row = conn.execute(
        select(u).select_from(a.join(u, a.c.user_id == u.c.id)).where(a.c.token_hash == token_hash)
    ).first()
    return None if row is None else _user(row)


# ---------------------------------------------------------------- failed sign-ins


def add_login_failure(conn: Connection, user_name: str, address: str) -> None:
    conn.execute(
        insert(t.login_failures).values(user_name=user_name, address=address, created_at=now_iso())
    )


def login_failures_since(
    conn: Connection, since: str, *, user_name: str | None = None, address: str | None = None
) -> tuple[int, str | None]:
    """How many failures for the account (or the address) since ``since``, and the oldest."""
    lf = t.login_failures
    match = lf.c.user_name == user_name if user_name is not None else lf.c.address == address
    n, oldest = conn.execute(
        select(func.count(), func.min(lf.c.created_at)).where(match, lf.c.created_at > since)
    ).one()
    return int(n), oldest


def clear_login_failures(conn: Connection, user_name: str) -> None:
    conn.execute(delete(t.login_failures).where(t.login_failures.c.user_name == user_name))


def delete_login_failures_before(conn: Connection, before: str) -> None:
    conn.execute(delete(t.login_failures).where(t.login_failures.c.created_at <= before))


ROLES = t.ROLES
"""Project roles (the names live in store.tables with the column that holds them)."""
