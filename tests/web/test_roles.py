"""Every route of the OpenAPI document, for every role: allowed, or 404 (never 403) outside
the caller's grant; another project's objects are 404; each status is declared."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import Response

from tests.web.conftest import ITEM, OTHER, OTHER_ITEM, PROJECT, ROLES, Served

API = "/api/v1"
PUBLIC = {("POST", f"{API}/auth/login")}
ANY_USER = {
    ("POST", f"{API}/auth/logout"),
    ("GET", f"{API}/me"),
    ("GET", f"{API}/me/tokens"),
    ("POST", f"{API}/me/tokens"),
    ("DELETE", f"{API}/me/tokens/{{token_id}}"),
    ("GET", f"{API}/projects"),
}
IN_PROJECT = {
    ("GET", f"{API}/projects/{{project}}"): set(ROLES),
    ("GET", f"{API}/projects/{{project}}/members"): {"admin"},
    ("PUT", f"{API}/projects/{{project}}/members/{{user}}"): {"admin"},
    ("PUT", f"{API}/projects/{{project}}/members/{{user}}/suspended"): {"admin"},
    ("GET", f"{API}/projects/{{project}}/items"): {"admin", "reviewer"},
    ("GET", f"{API}/projects/{{project}}/items/{{key}}"): {"admin", "reviewer"},
    ("GET", f"{API}/projects/{{project}}/tasks/next"): {"annotator", "expert"},
    ("POST", f"{API}/projects/{{project}}/tasks/{{assignment}}/answer"): {"annotator", "expert"},
    ("POST", f"{API}/projects/{{project}}/tasks/{{assignment}}/skip"): {"annotator", "expert"},
    ("POST", f"{API}/projects/{{project}}/decisions"): {"reviewer", "expert"},
    ("GET", f"{API}/projects/{{project}}/policy"): {"admin"},
    ("PUT", f"{API}/projects/{{project}}/policy"): {"admin"},
    ("GET", f"{API}/projects/{{project}}/people"): {"admin", "reviewer"},
}
BODIES = {
    "TokenIn": {"name": "matrix"},
    "RoleIn": {"role": "annotator"},  # the annotator's current role: no change
    "SuspendedIn": {"suspended": False},
    "LoginIn": {"name": "nobody", "password": "wrong"},
    "AnswerIn": {"label": "yes"},
    "SkipIn": {"reason": "cannot_tell", "comment": "matrix"},
    "DecisionIn": {"item": ITEM, "label": "yes"},
    "PolicyIn": {},  # no change
}
NO_TASK = "no-such-assignment"
"""The matrix holds no task: an allowed caller's answer to it is the assignment's 404."""
CALLERS = (*ROLES, "outsider")


def operations(served: Served) -> list[tuple[str, str, dict[str, Any]]]:
    doc = served.app.openapi()
    return [
        (method.upper(), path, op)
        for path, methods in doc["paths"].items()
        for method, op in methods.items()
    ]


def _body(op: dict[str, Any]) -> dict[str, Any] | None:
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = schema.get("schema", {}).get("$ref")
    return None if ref is None else BODIES[ref.rsplit("/", 1)[1]]


def _call(served: Served, method: str, path: str, op: dict[str, Any], *args: Any, **kw: Any) -> int:
    return _respond(served, method, path, op, *args, **kw).status_code


def _respond(
    served: Served,
    method: str,
    path: str,
    op: dict[str, Any],
    headers: dict[str, str],
    *,
    project: str = PROJECT,
    key: str = ITEM,
    token_id: int = 0,
) -> Response:
    url = (
        path.replace("{project}", project)
        .replace("{user}", "annotator")
        .replace("{key}", key)
        .replace("{token_id}", str(token_id))
        .replace("{assignment}", NO_TASK)
    )
    headers = {**headers, "Idempotency-Key": "matrix"}
    res = served.client.request(method, url, json=_body(op), headers=headers)
    declared = op["responses"]
    assert str(res.status_code) in declared, (method, path, res.status_code, res.text)
    return res


def test_the_table_names_every_route(served: Served) -> None:
    found = {(m, p) for m, p, _ in operations(served)}
    assert found == PUBLIC | ANY_USER | set(IN_PROJECT)


def test_every_route_but_sign_in_needs_credentials(served: Served) -> None:
    for method, path, op in operations(served):
        if (method, path) in PUBLIC:
            continue
        assert _call(served, method, path, op, {}) == 401, (method, path)
        bad = {"Authorization": "Bearer llt_not-a-token"}
        assert _call(served, method, path, op, bad) == 401, (method, path)


@pytest.mark.parametrize("who", CALLERS)
def test_role_matrix(served: Served, who: str) -> None:
    headers = served.bearer(who)
    for method, path, op in operations(served):
        if (method, path) in PUBLIC:
            continue
        token_id = 0
        if "{token_id}" in path:  # a fresh token of the caller's, to revoke
            made = served.client.post(f"{API}/me/tokens", json={"name": "x"}, headers=headers)
            token_id = made.json()["id"]
        res = _respond(served, method, path, op, headers, token_id=token_id)
        status = res.status_code
        allowed = (method, path) in ANY_USER or who in IN_PROJECT.get((method, path), set())
        if allowed and "{assignment}" in path:  # past the role check, to the task
            assert status == 404, (who, method, path, status)
            assert NO_TASK in res.json()["detail"], (who, method, path)
        elif allowed:
            assert 200 <= status < 300, (who, method, path, status)
        else:
            assert status == 404, (who, method, path, status)


@pytest.mark.parametrize("who", ROLES)
def test_another_projects_objects_are_404(served: Served, who: str) -> None:
    headers = served.bearer(who)
    for method, path, op in operations(served):
        if (method, path) not in IN_PROJECT:
            continue
        for project, key in ((OTHER, OTHER_ITEM), ("no-such-project", ITEM), (PROJECT, OTHER_ITEM)):
            if project == PROJECT and "{key}" not in path:
                continue
            status = _call(served, method, path, op, headers, project=project, key=key)
            assert status == 404, (who, method, path, project, key)


def test_a_missing_and_a_forbidden_project_answer_alike(served: Served) -> None:
    headers = served.bearer("annotator")
    hidden = served.client.get(f"{API}/projects/{OTHER}", headers=headers)
    missing = served.client.get(f"{API}/projects/nope", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(OTHER, "X") == missing.json()["detail"].replace(
        "nope", "X"
    )
    assert OTHER not in missing.text  # no list of the workspace's projects


def test_someone_elses_token_cannot_be_revoked(served: Served) -> None:
    mine = served.client.get(f"{API}/me/tokens", headers=served.bearer("admin")).json()
    res = served.client.delete(
        f"{API}/me/tokens/{mine[0]['id']}", headers=served.bearer("annotator")
    )
    assert res.status_code == 404
    still = served.client.get(f"{API}/me", headers=served.bearer("admin"))
    assert still.status_code == 200


def test_projects_lists_only_the_callers(served: Served) -> None:
    res = served.client.get(f"{API}/projects", headers=served.bearer("annotator"))
    assert res.json() == [{"project": PROJECT, "role": "annotator", "suspended": False}]
    res = served.client.get(f"{API}/projects", headers=served.bearer("outsider"))
    assert [p["project"] for p in res.json()] == [OTHER]


def test_openapi_declares_the_error_statuses(served: Served) -> None:
    for method, path, op in operations(served):
        codes = set(op["responses"])
        if (method, path) not in PUBLIC:
            assert "401" in codes, (method, path)
        if (method, path) in IN_PROJECT:
            assert "404" in codes, (method, path)
        if method != "GET":
            assert "422" in codes or (method, path) == ("POST", f"{API}/auth/logout")
            if (method, path) not in PUBLIC:
                assert "403" in codes, (method, path)  # the CSRF check
        for code in codes - {"200", "201", "204"}:
            schema = op["responses"][code]["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith("/ErrorOut"), (method, path, code)


def test_a_suspended_member_sees_the_summary_and_nothing_else(served: Served) -> None:
    admin = served.bearer("admin")
    res = served.client.put(
        f"{API}/projects/{PROJECT}/members/reviewer/suspended",
        json={"suspended": True},
        headers=admin,
    )
    assert res.status_code == 200 and res.json()["suspended"] is True
    reviewer = served.bearer("reviewer")
    assert served.client.get(f"{API}/projects/{PROJECT}", headers=reviewer).status_code == 200
    res = served.client.get(f"{API}/projects/{PROJECT}/items", headers=reviewer)
    assert res.status_code == 403 and "suspended" in res.json()["detail"]
    mine = served.client.get(f"{API}/projects", headers=reviewer).json()
    assert mine == [{"project": PROJECT, "role": "reviewer", "suspended": True}]


def test_admins_manage_roles_and_cannot_remove_the_last_admin(served: Served) -> None:
    admin = served.bearer("admin")
    url = f"{API}/projects/{PROJECT}/members"
    res = served.client.put(f"{url}/annotator", json={"role": "expert"}, headers=admin)
    assert res.json()["labeler"] == {"kind": "expert", "name": "annotator", "version": "1"}
    res = served.client.put(f"{url}/outsider", json={"role": "annotator"}, headers=admin)
    assert res.status_code == 200  # an existing user joins
    assert (
        served.client.get(f"{API}/projects/{PROJECT}", headers=served.bearer("outsider")).json()[
            "role"
        ]
        == "annotator"
    )
    res = served.client.put(f"{url}/admin", json={"role": "reviewer"}, headers=admin)
    assert res.status_code == 409 and "last active admin" in res.json()["detail"]
    res = served.client.put(f"{url}/ghost", json={"role": "reviewer"}, headers=admin)
    assert res.status_code == 404
    res = served.client.put(f"{url}/reviewer", json={"role": "owner"}, headers=admin)
    assert res.status_code == 422 and res.json()["errors"][0]["where"] == "body.role"


def test_items_read_for_reviewers(served: Served) -> None:
    reviewer = served.bearer("reviewer")
    res = served.client.get(f"{API}/projects/{PROJECT}/items?limit=1", headers=reviewer).json()
    assert res["total"] == 2 and [i["key"] for i in res["items"]] == [ITEM]
    one = served.client.get(f"{API}/projects/{PROJECT}/items/{ITEM}", headers=reviewer).json()
    assert one["data"]["text"] == "first <b>item</b>" and one["state"] == "unlabeled"
    res = served.client.get(f"{API}/projects/{PROJECT}/items?state=nonsense", headers=reviewer)
    assert res.status_code == 422 and "nonsense" in res.json()["detail"]


def test_nul_and_control_characters_are_refused_not_stored(served: Served) -> None:
    """PostgreSQL text cannot hold NUL: such input must be a 4xx on both stores."""
    admin = served.bearer("admin")
    for url in (f"{API}/projects/te%00st", f"{API}/projects/{PROJECT}/items/t%001"):
        assert served.client.get(url, headers=admin).status_code == 404
    res = served.client.post(f"{API}/me/tokens", json={"name": "a\x00b"}, headers=admin)
    assert res.status_code == 422
    res = served.client.post(f"{API}/auth/login", json={"name": "\x00", "password": "x"})
    assert res.status_code == 422
