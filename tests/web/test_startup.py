"""The server refuses to start without a good workspace secret; `serve` and `user` commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labelloop.errors import ConfigError
from tests.web.conftest import make_app

KEY = Path(".labelloop") / "secret.key"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.unlink(), "is missing"),
        (lambda p: p.write_text("ab" * 16 + "\n"), "holds 16 bytes; expected at least 32"),
        (
            lambda p: p.write_text("not hex at all, but long enough to pass a length check\n"),
            "not hex",
        ),
        (lambda p: p.chmod(0o644), "mode 644, readable by others"),
        (lambda p: p.chmod(0o640), "mode 640, readable by others"),
    ],
    ids=["missing", "short", "not-hex", "world-readable", "group-readable"],
)
def test_refuses_to_start_on_a_bad_secret(workspace: Path, change, message: str) -> None:
    change(workspace / KEY)
    with pytest.raises(ConfigError, match=message):
        make_app(workspace)


def test_serve_refuses_before_listening(workspace: Path, cli) -> None:
    (workspace / KEY).chmod(0o604)
    res = cli("serve", "--port", "1")
    assert res.code == 2 and "readable by others" in res.err and "chmod 600" in res.err


def test_serve_takes_one_worker_on_sqlite(workspace: Path, cli, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("on PostgreSQL several workers are allowed (and would start a server)")
    res = cli("serve", "--workers", "2")
    assert res.code == 2 and "--workers 2 needs PostgreSQL" in res.err


def test_user_add_prints_a_password_once_and_stores_a_hash(workspace: Path, cli) -> None:
    from labelloop.service.project.workspace import open_workspace
    from labelloop.store.accounts import get_user

    res = cli("user", "add", "ana", "--role", "admin", "--json")
    assert res.code == 0, res.err
    shown = json.loads(res.out)
    assert shown["role"] == "admin" and shown["project"] == "test"
    assert len(shown["password"]) >= 20
    with open_workspace(workspace) as ws, ws.store.read() as conn:
        user = get_user(conn, "ana")
    assert user is not None and shown["password"] not in user.password_hash
    assert user.password_hash.startswith("$argon2id$")  # cheap parameters in tests/web
    again = cli("user", "add", "ana")
    assert again.code == 2 and "already exists" in again.err
    plain = cli("user", "add", "bo")  # no project, no role: a user who belongs nowhere yet
    assert plain.code == 0 and "password (shown once, not stored): " in plain.out
    assert cli("user", "add", "bad name").code == 2
    assert "role 'boss' is unknown" in cli("user", "add", "cy", "--role", "boss").err


def test_user_role_adds_to_a_project(workspace: Path, cli) -> None:
    assert cli("user", "add", "ana").code == 0
    res = cli("user", "role", "ana", "--role", "expert")
    assert res.code == 0 and "expert of project 'test'" in res.out
    assert "does not exist" in cli("user", "role", "ghost", "--role", "expert").err


def test_a_fresh_workspace_secret_is_owner_only(workspace: Path) -> None:
    assert os.stat(workspace / KEY).st_mode & 0o777 == 0o600
    make_app(workspace)  # starts


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_the_app_on_loopback(workspace: Path) -> None:
    import subprocess
    import sys
    import time

    import httpx

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "labelloop", "serve", "--port", str(port)],
        cwd=workspace,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):  # up to ~30 s to start on a loaded machine
            try:
                res = httpx.get(f"{base}/", follow_redirects=False)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                time.sleep(0.1)
        else:
            raise AssertionError("the server did not start")
        assert res.status_code == 303 and res.headers["location"] == "/login"
        doc = httpx.get(f"{base}/api/v1/openapi.json").json()
        assert "/api/v1/projects/{project}" in doc["paths"]
        assert httpx.get(f"{base}/api/v1/me").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
