"""The one map from labelloop's errors to HTTP statuses, and the error responses the
OpenAPI document declares."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from labelloop.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LabelloopError,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
)
from labelloop.web.models import ErrorOut

log = logging.getLogger("labelloop.web")

STATUS: dict[type[LabelloopError], int] = {
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    TooManyAttempts: 429,
}
"""Error class -> status; a subclass takes its nearest listed base's status."""

_DESCRIPTIONS = {
    401: "Not signed in: no session cookie or API token, or an ended or unknown one.",
    403: "Signed in but not allowed: a missing or wrong X-CSRF-Token, or a suspended member.",
    404: "Not found, or outside what the caller may see (another project's objects are 404).",
    409: "The request contradicts the current state.",
    422: "The request is not what was expected (each problem is listed).",
    429: "Too many failed sign-ins; wait the Retry-After seconds.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses."""
    return {code: {"model": ErrorOut, "description": _DESCRIPTIONS[code]} for code in codes}


def use_error_body_for_validation(doc: dict[str, Any]) -> dict[str, Any]:
    """Point the 422 responses FastAPI adds to routes with parameters at :class:`ErrorOut`,
    the body the validation handler below really sends, and drop its unused schemas."""
    ref = "#/components/schemas/ErrorOut"
    for methods in doc.get("paths", {}).values():
        for op in methods.values():
            found = op.get("responses", {}).get("422")
            if found is not None:
                op["responses"]["422"] = {
                    "description": _DESCRIPTIONS[422],
                    "content": {"application/json": {"schema": {"$ref": ref}}},
                }
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


def status_of(exc: LabelloopError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra.pop("retry_after"))
    body = ErrorOut(detail=detail, **extra).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


def not_found() -> JSONResponse:
    return _error(404, "not found")


def install(app: FastAPI) -> None:
    """The error handlers, and an OpenAPI document whose 422s name the body really sent."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = use_error_body_for_validation(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(LabelloopError)
    async def _labelloop_error(request: Request, exc: LabelloopError) -> JSONResponse:
        status = status_of(exc)
        if status == 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
            return _error(500, "internal error; the server log says more")
        if isinstance(exc, TooManyAttempts):
            return _error(status, str(exc), retry_after=exc.retry_after)
        return _error(status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "where": ".".join(str(p) for p in e.get("loc", ())),
                "problem": e.get("msg", ""),
            }
            for e in exc.errors()
        ]
        listed = "; ".join(f"{p['where']}: {p['problem']}" for p in problems)
        return _error(422, f"the request is not valid: {listed}", errors=problems)
