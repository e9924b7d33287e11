"""Accounts service: argon2id parameters, roles and suspensions as project events."""

from __future__ import annotations

import json

import pytest
from argon2 import Type

from labelloop.errors import Conflict, NotFound
from labelloop.service.project import accounts
from labelloop.service.project.status import verify_chain
from labelloop.store import repo
from tests.web.conftest import use_cheap_password_hashes


@pytest.fixture
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_password_hashes(monkeypatch)


def test_passwords_are_hashed_with_argon2id_at_rfc_9106_cost() -> None:
    hasher = accounts._HASHER
    assert hasher.type is Type.ID
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (3, 65536, 4)


def _project_events(store, name="test"):
    with store.read() as conn:
        project = repo.get_project(conn, name)
        return [e for e in repo.iter_events(conn, project) if e.item_id is None]


@pytest.mark.usefixtures("cheap_password_hashes")
def test_role_changes_and_suspensions_are_chained_project_events(store) -> None:
    accounts.add_user(store, "boss", role="admin")
    accounts.add_user(store, "ann", role="annotator")
    accounts.set_role(store, "test", "ann", "expert", actor="boss", source="api")
    accounts.set_role(store, "test", "ann", "expert", actor="boss", source="api")  # no change
    accounts.set_suspended(store, "test", "ann", True, actor="boss", source="api")
    accounts.set_suspended(store, "test", "ann", True, actor="boss", source="api")  # no change
    events = _project_events(store)
    seen = [(e.type, json.loads(e.payload)) for e in events]
    assert seen == [
        ("role", {"user": "boss", "role": "admin", "previous_role": None, "by": "cli"}),
        ("role", {"user": "ann", "role": "annotator", "previous_role": None, "by": "cli"}),
        ("role", {"user": "ann", "role": "expert", "previous_role": "annotator", "by": "boss"}),
        ("labeler_status", {"user": "ann", "status": "suspended", "by": "boss"}),
    ]
    (ann,) = [m for m in accounts.list_members(store, "test") if m.user_name == "ann"]
    assert ann.labeler == {"kind": "expert", "name": "ann", "version": "1"}
    assert ann.suspended
    assert verify_chain(store, "test").ok


@pytest.mark.usefixtures("cheap_password_hashes")
def test_the_last_active_admin_stays(store) -> None:
    accounts.add_user(store, "boss", role="admin")
    for change in (
        lambda: accounts.set_role(store, "test", "boss", "reviewer", actor="boss", source="api"),
        lambda: accounts.set_suspended(store, "test", "boss", True, actor="boss", source="api"),
    ):
        with pytest.raises(Conflict, match="last active admin"):
            change()
    accounts.add_user(store, "deputy", role="admin")
    accounts.set_role(store, "test", "boss", "reviewer", actor="deputy", source="api")


@pytest.mark.usefixtures("cheap_password_hashes")
def test_suspending_a_stranger_is_not_found(store) -> None:
    accounts.add_user(store, "loner")
    with pytest.raises(NotFound, match="not a member of project 'test'"):
        accounts.set_suspended(store, "test", "loner", True, actor="x", source="api")


def test_migration_0004_goes_up_and_down_over_existing_projects(database_url) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from labelloop.store.engine import MIGRATIONS, Store

    store = Store(database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))

    def run(step, target: str) -> None:  # type: ignore[no-untyped-def]
        with store.write() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, target)

    run(command.upgrade, "0003")
    with store.write() as conn:
        repo.create_project(conn, "kept")
    run(command.upgrade, "0004")
    new = {"users", "memberships", "sessions", "api_tokens", "login_failures"}
    with store.read() as conn:
        assert new <= set(inspect(conn).get_table_names())
    run(command.downgrade, "0003")
    with store.read() as conn:
        assert not new & set(inspect(conn).get_table_names())
        assert [p.name for p in repo.list_projects(conn)] == ["kept"]
    store.migrate()
    assert store.is_migrated()
    store.dispose()
