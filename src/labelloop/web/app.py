"""The app factory: the workspace, keys from its secret, routers, error map, headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from labelloop import __version__
from labelloop.service.annotate.submit import SubmissionWriter
from labelloop.service.project.accounts import Keys
from labelloop.service.project.workspace import load_secret_key, open_workspace
from labelloop.settings import Settings, get_settings
from labelloop.web import errors, pages
from labelloop.web.auth import Context
from labelloop.web.routes import items, projects, session, tokens, work

API_PREFIX = "/api/v1"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""No inline script or style, nothing from elsewhere, no framing."""
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_app(settings: Settings | None = None, *, root: Path | None = None) -> FastAPI:
    """The server for the workspace at or above ``root`` (default: the current folder).

    Refuses (ConfigError) when the workspace secret is missing, short or readable by others.
    """
    settings = settings or get_settings()
    workspace = open_workspace(root)
    try:
        keys = Keys.from_secret(load_secret_key(workspace.root))
    except BaseException:
        workspace.close()
        raise

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # one writer for every project: submissions are group committed on one connection
        app.state.writer = SubmissionWriter(workspace.store, None)
        try:
            yield
        finally:
            app.state.writer.close()
            workspace.close()

    app = FastAPI(
        title="labelloop",
        version=__version__,
        description="Labeling operations: projects, members and roles, items, and people at work.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # the hosted docs pages load scripts from elsewhere; the CSP forbids it
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.context = Context(workspace, keys, settings)
    errors.install(app)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if "\x00" in request.scope.get("path", ""):  # nothing is named with NUL
            response: Response = errors.not_found()
        else:
            response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith(API_PREFIX) or request.url.path in ("/", "/login"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    for router in (session.router, tokens.router, projects.router, items.router, work.router):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    return app
