"""The sign-in page: where `/` leads, the form's CSRF token, escaping, and the CSP."""

from __future__ import annotations

import re

from labelloop.service.project import accounts
from labelloop.service.project.workspace import create_project, open_workspace
from tests.web.conftest import Served


def _form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found, html
    return found.group(1)


def test_a_signed_out_visitor_is_sent_to_the_login_page(served: Served) -> None:
    res = served.client.get("/", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/login"
    page = served.client.get("/login")
    assert page.status_code == 200 and "<form" in page.text


def test_pages_forbid_inline_script_and_carry_none(served: Served) -> None:
    page = served.client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "script-src" not in csp  # falls back to default-src 'none': no script at all
    assert "<script" not in page.text and "style=" not in page.text
    assert page.headers["x-frame-options"] == "DENY"


def test_sign_in_through_the_form_then_out(served: Served) -> None:
    with served.new_client() as browser:
        token = _form_token(browser.get("/login").text)
        res = browser.post(
            "/login",
            data={
                "name": "reviewer",
                "password": served.passwords["reviewer"],
                "csrf_token": token,
            },
            follow_redirects=False,
        )
        assert res.status_code == 303 and res.headers["location"] == "/"
        home = browser.get("/")
        assert "Signed in as <strong>reviewer</strong>" in home.text
        logout = _form_token(home.text)
        assert browser.post("/logout", data={}, follow_redirects=False).status_code == 403
        res = browser.post("/logout", data={"csrf_token": logout}, follow_redirects=False)
        assert res.status_code == 303
        assert browser.get("/", follow_redirects=False).status_code == 303


def test_the_form_without_its_token_signs_nobody_in(served: Served) -> None:
    with served.new_client() as browser:
        browser.get("/login")  # the nonce cookie, but no token in the form
        res = browser.post(
            "/login",
            data={"name": "admin", "password": served.passwords["admin"]},
            follow_redirects=False,
        )
        assert res.status_code == 403 and "labelloop_session" not in browser.cookies
    with served.new_client() as forged:  # a token without its nonce cookie
        token = _form_token(served.new_client().get("/login").text)
        res = forged.post(
            "/login",
            data={"name": "admin", "password": served.passwords["admin"], "csrf_token": token},
            follow_redirects=False,
        )
        assert res.status_code == 403


def test_a_script_in_a_user_string_is_inert(served: Served) -> None:
    evil = '"><script>alert(1)</script>'
    with served.new_client() as browser:
        token = _form_token(browser.get("/login").text)
        page = browser.post("/login", data={"name": evil, "password": "x", "csrf_token": token})
        assert page.status_code == 401
        assert "<script>" not in page.text
        assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    with open_workspace(served.root) as ws:  # a project name shown on the home page
        create_project(ws.store, evil)
        accounts.set_role(ws.store, evil, "annotator", "annotator", actor="t", source="cli")
    with served.new_client() as browser:
        served.sign_in(browser, "annotator")
        home = browser.get("/").text
        assert "<script>" not in home and "&lt;script&gt;" in home
