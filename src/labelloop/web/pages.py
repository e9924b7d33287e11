"""Server-rendered pages: sign-in, and a plain home page (the full pages come later).

Jinja2 with autoescape; no inline script or style anywhere (the CSP forbids both). Forms
carry a CSRF token: the sign-in form's is bound to a nonce cookie, the others' to the session.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from labelloop.errors import TooManyAttempts, Unauthenticated
from labelloop.service.project import accounts
from labelloop.web.auth import SESSION_COOKIE, Context, context
from labelloop.web.routes.session import client_address, set_session_cookie

LOGIN_NONCE_COOKIE = "labelloop_login"
MAX_FORM_BYTES = 8192
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)

router = APIRouter(include_in_schema=False)


def _page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(template).render(**values), status_code=status)


def _signed_in(request: Request, ctx: Context) -> tuple[accounts.User, str] | None:
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return None
    user = accounts.session_user(ctx.store, ctx.keys, session)
    return None if user is None else (user, session)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10)
    return {k: v[0] for k, v in fields.items()}


@router.get("/")
def home(request: Request, ctx: Annotated[Context, Depends(context)]) -> Response:
    found = _signed_in(request, ctx)
    if found is None:
        return RedirectResponse("/login", status_code=303)
    user, session = found
    return _page(
        "home.html",
        user=user.name,
        projects=accounts.memberships(ctx.store, user),
        csrf_token=accounts.csrf_token(ctx.keys, session),
    )


def _login_page(
    ctx: Context, *, status: int = 200, name: str = "", error: str | None = None
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    page = _page(
        "login.html",
        status,
        name=name,
        error=error,
        form_token=accounts.login_form_token(ctx.keys, nonce),
    )
    page.set_cookie(LOGIN_NONCE_COOKIE, nonce, httponly=True, samesite="strict", path="/login")
    return page


@router.get("/login")
def login_page(request: Request, ctx: Annotated[Context, Depends(context)]) -> Response:
    if _signed_in(request, ctx) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_page(ctx)


@router.post("/login")
async def login_form(request: Request, ctx: Annotated[Context, Depends(context)]) -> Response:
    form = await _form(request)
    name = form.get("name", "")
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE, "")
    token = form.get("csrf_token", "")
    if not nonce or not secrets.compare_digest(accounts.login_form_token(ctx.keys, nonce), token):
        return _login_page(ctx, status=403, name=name, error="The form expired; try again.")
    try:
        signed_in = accounts.sign_in(
            ctx.store,
            ctx.keys,
            ctx.settings,
            name,
            form.get("password", ""),
            client_address(request),
        )
    except Unauthenticated as exc:
        return _login_page(ctx, status=401, name=name, error=str(exc).capitalize() + ".")
    except TooManyAttempts as exc:
        page = _login_page(ctx, status=429, name=name, error=str(exc).capitalize() + ".")
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, ctx, signed_in)
    response.delete_cookie(LOGIN_NONCE_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout_form(request: Request, ctx: Annotated[Context, Depends(context)]) -> Response:
    found = _signed_in(request, ctx)
    if found is not None:
        _, session = found
        form = await _form(request)
        if not accounts.csrf_matches(ctx.keys, session, form.get("csrf_token")):
            return HTMLResponse("Forbidden: the form's CSRF token is missing or wrong.", 403)
        accounts.sign_out(ctx.store, ctx.keys, session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
