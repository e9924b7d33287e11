"""Sessions, CSRF and the sign-in rate limits."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.web.conftest import PROJECT, Served, make_app

API = "/api/v1"


def _set_cookie(res: object) -> str:
    return res.headers["set-cookie"]  # type: ignore[attr-defined,no-any-return]


def test_session_cookie_is_httponly_lax_and_secure_only_over_tls(served: Served) -> None:
    res = served.client.post(
        f"{API}/auth/login", json={"name": "admin", "password": served.passwords["admin"]}
    )
    cookie = _set_cookie(res).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie
    with served.new_client(base_url="https://testserver") as tls:
        res = tls.post(
            f"{API}/auth/login", json={"name": "admin", "password": served.passwords["admin"]}
        )
        assert "; secure" in _set_cookie(res).lower()


def test_cookie_authenticated_writes_need_the_csrf_token(served: Served) -> None:
    with served.new_client() as browser:
        csrf = served.sign_in(browser, "admin")
        url = f"{API}/projects/{PROJECT}/members/reviewer"
        assert browser.get(f"{API}/projects/{PROJECT}/members").status_code == 200  # safe
        for headers in ({}, {"X-CSRF-Token": "0" * 64}):
            res = browser.put(url, json={"role": "expert"}, headers=headers)
            assert res.status_code == 403, res.text
            assert "X-CSRF-Token" in res.json()["detail"]
        assert browser.post(f"{API}/auth/logout").status_code == 403
        res = browser.put(url, json={"role": "expert"}, headers={"X-CSRF-Token": csrf})
        assert res.status_code == 200 and res.json()["role"] == "expert"
        # the token from /me is the same one
        assert browser.get(f"{API}/me").json()["csrf_token"] == csrf


def test_a_bearer_token_needs_no_csrf_token(served: Served) -> None:
    with served.new_client() as script:
        res = script.post(
            f"{API}/me/tokens", json={"name": "ci"}, headers=served.bearer("annotator")
        )
        assert res.status_code == 201
        assert script.get(f"{API}/me", headers=served.bearer("annotator")).json()["auth"] == "token"


def test_a_blank_token_name_is_refused_as_the_openapi_document_says(served: Served) -> None:
    """Names are stored stripped: a name of white space only (here a no-break space, which a
    schemathesis run found the document accepted) is 422, and the document says so."""
    import re

    with served.new_client() as script:
        spec = script.get(f"{API}/openapi.json").json()
        pattern = spec["components"]["schemas"]["TokenIn"]["properties"]["name"]["pattern"]
        for blank in ("\u00a0", "  ", "\t"):
            assert re.search(pattern, blank) is None
            res = script.post(
                f"{API}/me/tokens", json={"name": blank}, headers=served.bearer("annotator")
            )
            assert res.status_code == 422
        assert re.search(pattern, " ci ") is not None


def test_another_sessions_csrf_token_does_not_pass(served: Served) -> None:
    with served.new_client() as one, served.new_client() as two:
        served.sign_in(one, "admin")
        other = served.sign_in(two, "admin")
        res = one.post(f"{API}/me/tokens", json={"name": "x"}, headers={"X-CSRF-Token": other})
        assert res.status_code == 403


def test_logout_ends_the_session_for_every_copy_of_the_cookie(served: Served) -> None:
    with served.new_client() as browser:
        csrf = served.sign_in(browser, "reviewer")
        session = browser.cookies["labelloop_session"]
        assert browser.post(f"{API}/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert "labelloop_session" not in browser.cookies
    with served.new_client(cookies={"labelloop_session": session}) as replay:
        res = replay.get(f"{API}/me")
        assert res.status_code == 401
        assert res.headers["www-authenticate"] == "Bearer"


def test_wrong_passwords_and_unknown_users_answer_alike(served: Served) -> None:
    wrong = served.client.post(f"{API}/auth/login", json={"name": "admin", "password": "nope"})
    unknown = served.client.post(f"{API}/auth/login", json={"name": "ghost", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers


def test_login_takes_json_only(served: Served) -> None:
    res = served.client.post(
        f"{API}/auth/login",
        content='{"name": "admin", "password": "x"}',
        headers={"Content-Type": "text/plain"},
    )
    assert res.status_code == 422


def test_sign_ins_are_rate_limited_per_account_and_per_address(served: Served) -> None:
    app = make_app(served.root, login_max_failures=3, login_max_failures_per_address=5)
    with TestClient(app) as client:

        def login(name: str, password: str) -> int:
            res = client.post(f"{API}/auth/login", json={"name": name, "password": password})
            return res.status_code

        assert [login("admin", "wrong") for _ in range(3)] == [401, 401, 401]
        res = client.post(
            f"{API}/auth/login", json={"name": "admin", "password": served.passwords["admin"]}
        )
        assert res.status_code == 429  # the right password waits too
        assert 0 < int(res.headers["retry-after"]) <= 900
        assert "3 failed sign-ins for this account" in res.json()["detail"]
        # other accounts from the same address: two more failures reach the address limit
        assert login("reviewer", "wrong") == 401
        assert login("ghost", "wrong") == 401
        assert login("expert", served.passwords["expert"]) == 429
    # a bearer token is not a sign-in: scripts keep working
    assert served.client.get(f"{API}/me", headers=served.bearer("admin")).status_code == 200


def test_a_good_sign_in_clears_the_accounts_failures(served: Served) -> None:
    app = make_app(served.root, login_max_failures=3)
    with TestClient(app) as client:
        for _ in range(2):
            client.post(f"{API}/auth/login", json={"name": "admin", "password": "wrong"})
        served.sign_in(client, "admin")
        for _ in range(2):
            client.post(f"{API}/auth/login", json={"name": "admin", "password": "wrong"})
        served.sign_in(client, "admin")


def test_an_admin_signed_in_by_cookie_reaches_every_admin_route(served: Served) -> None:
    from tests.web.test_roles import ANY_USER, IN_PROJECT, _call, operations

    with served.new_client() as browser:
        csrf = served.sign_in(browser, "admin")
        browser_served = Served(served.root, served.app, browser)
        for method, path, op in operations(served):
            if (method, path) in ANY_USER - {("POST", f"{API}/auth/logout")} or "admin" in (
                IN_PROJECT.get((method, path), set())
            ):
                token_id = 0
                if "{token_id}" in path:
                    made = browser.post(
                        f"{API}/me/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf}
                    )
                    token_id = made.json()["id"]
                status = _call(
                    browser_served, method, path, op, {"X-CSRF-Token": csrf}, token_id=token_id
                )
                assert 200 <= status < 300, (method, path, status)


def test_expired_sessions_end(served: Served, tmp_path: Path) -> None:
    app = make_app(served.root, session_hours=1e-9)
    with TestClient(app) as client:
        served.sign_in(client, "admin")
        assert client.get(f"{API}/me").status_code == 401
