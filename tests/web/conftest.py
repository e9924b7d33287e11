"""A served workspace with two projects and one user per role (plus an outsider)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from labelloop.service.project import accounts
from labelloop.service.project.schemas import apply_schema_file
from labelloop.service.project.workspace import create_project, load_secret_key, open_workspace
from labelloop.service.source.imports import import_items
from labelloop.settings import Settings
from labelloop.web import create_app

ROLES = ("admin", "reviewer", "expert", "annotator")
PROJECT = "test"
OTHER = "other"
ITEM = "t1"
OTHER_ITEM = "o1"
SCHEMA = """name: served
version: "1"
task: single_label
inputs:
  - name: text
    type: text
labels:
  - {name: "yes", description: the yes class}
  - {name: "no", description: the no class}
"""


@dataclass
class Served:
    root: Path
    app: FastAPI
    client: TestClient
    passwords: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    """Bearer token per user name (the role names, and 'outsider')."""

    def bearer(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def new_client(self, **kwargs: object) -> TestClient:
        return TestClient(self.app, **kwargs)  # type: ignore[arg-type]

    def sign_in(self, client: TestClient, user: str) -> str:
        """Sign ``client`` in with a session cookie; returns the CSRF token."""
        res = client.post(
            "/api/v1/auth/login", json={"name": user, "password": self.passwords[user]}
        )
        assert res.status_code == 200, res.text
        return str(res.json()["csrf_token"])


def make_app(root: Path, **settings: object) -> FastAPI:
    return create_app(Settings(**settings), root=root)  # type: ignore[arg-type]


def use_cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its smallest cost: the production parameters take about a second a hash
    on a loaded test machine (tests/service/test_accounts.py checks those parameters)."""
    from argon2 import PasswordHasher

    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr(accounts, "_HASHER", cheap)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", cheap.hash("dummy"))


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_password_hashes(monkeypatch)


@pytest.fixture
def served(workspace: Path, tmp_path: Path) -> Iterator[Served]:
    """Project 'test' (schema yes/no, no worked examples; items t1, t2) with admin, reviewer, expert and annotator users named
    after their role; project 'other' (item o1) whose admin is 'outsider'."""
    items = tmp_path / "items.csv"
    items.write_text("id,text\nt1,first <b>item</b>\nt2,second item\n", encoding="utf-8")
    other_items = tmp_path / "other.csv"
    other_items.write_text("id,text\no1,another project's item\n", encoding="utf-8")
    passwords = {}
    tokens = {}
    with open_workspace(workspace) as ws:
        create_project(ws.store, OTHER)
        (tmp_path / "schema.yaml").write_text(SCHEMA, encoding="utf-8")
        apply_schema_file(ws.store, PROJECT, tmp_path / "schema.yaml")
        import_items(ws.store, PROJECT, items, id_field="id")
        import_items(ws.store, OTHER, other_items, id_field="id")
        keys = accounts.Keys.from_secret(load_secret_key(ws.root))
        members = [(role, PROJECT) for role in ROLES] + [("outsider", OTHER)]
        for name, project in members:
            role = "admin" if name == "outsider" else name
            added = accounts.add_user(ws.store, name, role=role, project_name=project)
            passwords[name] = added.password
            tokens[name] = accounts.create_api_token(ws.store, keys, added.user, "tests")[1]
    app = make_app(workspace)
    with TestClient(app) as client:
        yield Served(workspace, app, client, passwords, tokens)
