"""Accounts: users, project roles, sign-in with rate limits, sessions, CSRF and API tokens.

Passwords are argon2id hashes. Session ids and API tokens are random; the database holds
only their HMAC under a key derived from the workspace secret (so a copy of the database
signs nobody in, and a new secret ends every session and token). Role changes and
suspensions are project events in the hash chain.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from labelloop.errors import Conflict, InvalidInput, NotFound, TooManyAttempts, Unauthenticated
from labelloop.settings import Settings
from labelloop.store import accounts, repo
from labelloop.store.accounts import ROLES, ApiToken, Membership, User
from labelloop.store.engine import Connection, Store

__all__ = [
    "ROLES",
    "ApiToken",
    "Keys",
    "Membership",
    "User",
]

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory parameters
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
"""Verified against when the account does not exist, so timing does not tell names apart."""
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}")
TOKEN_PREFIX = "llt_"


@dataclass(frozen=True)
class Keys:
    """Keys derived from the workspace secret, one per use."""

    session: bytes
    csrf: bytes
    token: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> Keys:
        def derive(purpose: str) -> bytes:
            return hmac.new(secret, f"labelloop {purpose} v1".encode(), hashlib.sha256).digest()

        return cls(derive("session"), derive("csrf"), derive("api token"))


def _mac(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is unknown; expected one of {list(ROLES)}")


def _labeler_kind(role: str) -> str:
    return "expert" if role == "expert" else "human"


# ---------------------------------------------------------------- users and roles


@dataclass(frozen=True)
class NewUser:
    user: User
    password: str
    """Generated; shown once, never stored."""
    membership: Membership | None


def add_user(
    store: Store, name: str, *, role: str | None = None, project_name: str | None = None
) -> NewUser:
    """A new user with a generated password, optionally a member of a project with ``role``
    (default annotator; the project may be left out while the workspace has one)."""
    if not USER_NAME.fullmatch(name):
        raise InvalidInput(
            f"user name {name!r} is not valid; expected 1-200 letters, digits or . _ @ + - "
            "starting with a letter or digit"
        )
    if role is not None:
        _check_role(role)
    password = secrets.token_urlsafe(18)
    with store.write() as conn:
        user = accounts.create_user(conn, name, _HASHER.hash(password))
        membership = None
        if role is not None or project_name is not None:
            project = repo.get_project(conn, project_name, lock=True)
            membership = _set_role(conn, project, user, role or "annotator", "cli", "cli")
    return NewUser(user, password, membership)


def has_users(store: Store) -> bool:
    with store.read() as conn:
        return accounts.count_users(conn) > 0


def _set_role(
    conn: Connection, project: repo.Project, user: User, role: str, actor: str, source: str
) -> Membership:
    previous = accounts.get_membership(conn, user.id, project.name)
    identity = (_labeler_kind(role), user.name, "1")
    labeler_id = repo.ensure_labelers(conn, project, {identity})[identity]
    accounts.put_membership(conn, user, project, role, labeler_id)
    _project_event(
        conn,
        project,
        "role",
        labeler_id,
        source,
        {
            "user": user.name,
            "role": role,
            "previous_role": None if previous is None else previous.role,
            "by": actor,
        },
    )
    found = accounts.get_membership(conn, user.id, project.name)
    assert found is not None  # just written in this transaction
    return found


def _project_event(
    conn: Connection,
    project: repo.Project,
    type: str,
    labeler_id: int,
    source: str,
    payload: dict[str, str | None],
) -> None:
    """Append a project-level event about one member (their labeler) to the chain."""
    draft = repo.EventDraft(type, None, labeler_id, None, None, source, payload=payload)
    repo.append_events(conn, project.name, [draft])


def set_role(
    store: Store,
    project_name: str | None,
    user_name: str,
    role: str,
    *,
    actor: str,
    source: str,
) -> Membership:
    """Make the user a member of the project with ``role`` (or change their role); a
    ``role`` event records who did it. The same role again changes nothing; a change that
    would leave a project with admins without an active one is a Conflict."""
    _check_role(role)
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        user = accounts.get_user(conn, user_name)
        if user is None:
            raise NotFound(f"user {user_name!r} does not exist")
        current = accounts.get_membership(conn, user.id, project.name)
        if current is not None and current.role == role:
            return current
        if current is not None and _is_last_admin(conn, project, current):
            raise Conflict(
                f"{user_name!r} is the last active admin of project {project.name!r}; "
                "make another member admin first"
            )
        return _set_role(conn, project, user, role, actor, source)


def _is_last_admin(conn: Connection, project: repo.Project, member: Membership) -> bool:
    if member.role != "admin" or member.suspended:
        return False
    admins = [
        m
        for m in accounts.members_of_project(conn, project)
        if m.role == "admin" and not m.suspended
    ]
    return len(admins) == 1


def set_suspended(
    store: Store, project_name: str, user_name: str, suspended: bool, *, actor: str, source: str
) -> Membership:
    """Suspend a member from the project's work (or reinstate them); a ``labeler_status``
    event records it. The same state again changes nothing."""
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        member = _member(conn, project, user_name)
        if member.suspended == suspended:
            return member
        if suspended and _is_last_admin(conn, project, member):
            raise Conflict(
                f"{user_name!r} is the last active admin of project {project.name!r}; "
                "make another member admin first"
            )
        accounts.set_suspended(conn, member.user_id, project.id, suspended)
        status = "suspended" if suspended else "active"
        _project_event(
            conn,
            project,
            "labeler_status",
            member.labeler_id,
            source,
            {"user": user_name, "status": status, "by": actor},
        )
        return _member(conn, project, user_name)


def _member(conn: Connection, project: repo.Project, user_name: str) -> Membership:
    user = accounts.get_user(conn, user_name)
    member = None if user is None else accounts.get_membership(conn, user.id, project.name)
    if member is None:
        raise NotFound(f"user {user_name!r} is not a member of project {project.name!r}")
    return member


def list_members(store: Store, project_name: str) -> list[Membership]:
    with store.read() as conn:
        return accounts.members_of_project(conn, repo.get_project(conn, project_name))


def memberships(store: Store, user: User) -> list[Membership]:
    """The projects the user belongs to, with their role there."""
    with store.read() as conn:
        return accounts.memberships_of_user(conn, user.id)


def membership(store: Store, user: User, project_name: str) -> Membership | None:
    """The user's membership of the project, or None (no such project, or not a member)."""
    with store.read() as conn:
        return accounts.get_membership(conn, user.id, project_name)


# ---------------------------------------------------------------- sign-in and sessions


@dataclass(frozen=True)
class SignIn:
    user: User
    session: str
    """The session id for the cookie (random; the database holds its HMAC)."""
    expires_at: datetime


def sign_in(
    store: Store, keys: Keys, settings: Settings, name: str, password: str, address: str
) -> SignIn:
    """Check the password and open a session. Failures count against the account and the
    client address; past either limit, every try waits out the window (right password too)."""
    now = datetime.now(UTC)
    since = _iso(now - timedelta(seconds=settings.login_window_s))
    with store.read() as conn:
        for what, limit, kwargs in (
            ("account", settings.login_max_failures, {"user_name": name}),
            ("address", settings.login_max_failures_per_address, {"address": address}),
        ):
            n, oldest = accounts.login_failures_since(conn, since, **kwargs)
            if n >= limit:
                assert oldest is not None  # n > 0
                opened = datetime.strptime(oldest, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
                wait = settings.login_window_s - int((now - opened).total_seconds())
                raise TooManyAttempts(
                    f"{n} failed sign-ins for this {what} in the last "
                    f"{settings.login_window_s} s; try again in {max(wait, 1)} s",
                    retry_after=max(wait, 1),
                )
        user = accounts.get_user(conn, name)
    matches = _password_matches(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not matches:
        with store.write() as conn:
            accounts.add_login_failure(conn, name[:200], address[:64])
            accounts.delete_login_failures_before(conn, since)
        raise Unauthenticated("user name or password is wrong")
    session = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=settings.session_hours)
    with store.write() as conn:
        accounts.clear_login_failures(conn, name)
        accounts.delete_expired_sessions(conn, _iso(now))
        accounts.add_session(conn, user.id, _mac(keys.session, session), _iso(expires))
    return SignIn(user, session, expires)


def _password_matches(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def sign_out(store: Store, keys: Keys, session: str) -> None:
    with store.write() as conn:
        accounts.delete_session(conn, _mac(keys.session, session))


def session_user(store: Store, keys: Keys, session: str) -> User | None:
    """The user of an open session, or None (unknown, signed out or expired)."""
    with store.read() as conn:
        return accounts.session_user(conn, _mac(keys.session, session), _iso(datetime.now(UTC)))


def csrf_token(keys: Keys, session: str) -> str:
    """The CSRF token of a session: sent back in a header on every unsafe request."""
    return _mac(keys.csrf, session)


def csrf_matches(keys: Keys, session: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(csrf_token(keys, session), token)


def login_form_token(keys: Keys, nonce: str) -> str:
    """The CSRF token of the sign-in form, bound to a nonce cookie (no session yet)."""
    return _mac(keys.csrf, "login form " + nonce)


# ---------------------------------------------------------------- API tokens


def create_api_token(store: Store, keys: Keys, user: User, name: str) -> tuple[ApiToken, str]:
    """A new bearer token for scripts; the secret is returned once and stored as an HMAC."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput(f"token name {name!r} is not valid; expected 1-200 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.write() as conn:
        token = accounts.add_token(conn, user.id, name, _mac(keys.token, secret))
    return token, secret


def list_api_tokens(store: Store, user: User) -> list[ApiToken]:
    with store.read() as conn:
        return accounts.tokens_of_user(conn, user.id)


def revoke_api_token(store: Store, user: User, token_id: int) -> None:
    with store.write() as conn:
        if not accounts.delete_token(conn, user.id, token_id):
            raise NotFound(f"token {token_id} does not exist")


def token_user(store: Store, keys: Keys, secret: str) -> User | None:
    """The user of a bearer token, or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    with store.read() as conn:
        return accounts.token_user(conn, _mac(keys.token, secret))
