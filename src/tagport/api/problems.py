"""Errors as RFC 9457 problem details: the one place errors become HTTP statuses.

Every error leaves the API as `application/problem+json` with a stable `type` built from the
error's dotted code, the status of `STATUSES`, a `detail` that names what was refused, the
`request_id` the server log also shows, and for bad input every field error by JSON path.
Never a stack trace: anything that is not a `TagportError` is a bug, answered 500 and logged.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tagport.errors import (
    ConfigError,
    Conflict,
    ExternalError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Problem,
    TagportError,
    TransientError,
    Unauthenticated,
)
from tagport.services.sessions import TooManyAttempts

log = logging.getLogger("tagport.api")

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:tagport:problem:"

STATUSES: list[tuple[type[TagportError], int]] = [
    (TooManyAttempts, 429),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (ConfigError, 503),  # settings forbid it now (a host, a password variable): fixable, not a bug
    (TransientError, 503),
    (ExternalError, 502),
    (TagportError, 500),
]
"""Most specific class first, as `errors.EXIT_CODES`."""

TITLES = {
    400: "Malformed request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    415: "Unsupported media type",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal error",
    502: "External system failed",
    503: "Unavailable",
}


class FieldError(BaseModel):
    path: str = Field(description="JSON path of the field: `$.target.table`; `$` for the body.")
    message: str


class ProblemDetail(BaseModel):
    """RFC 9457 problem details, with tagport's `code`, `request_id` and field `errors`."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None
    errors: list[FieldError] = []


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": TITLES[status],
        "model": ProblemDetail,
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
    }
    for status in (400, 401, 403, 404, 409, 412, 422, 428, 429, 500, 502, 503)
}
"""Declared on every route, so that clients (and schemathesis) know each answer's shape."""


def status_of(error: TagportError) -> int:
    return next(status for kind, status in STATUSES if isinstance(error, kind))


def _path(problem: Problem) -> str:
    return "$." + problem.field if problem.field else "$"


def problem_response(
    request: Request,
    status: int,
    code: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ProblemDetail(
        type=TYPE_PREFIX + code,
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        code=code,
        request_id=getattr(request.state, "request_id", None),
        errors=errors or [],
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status, media_type=MEDIA_TYPE, headers=headers
    )


def _tagport_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, TagportError)
    status = status_of(error)
    if status >= 500:
        log.error(
            "request %s: %s: %s", getattr(request.state, "request_id", "-"), error.code, error
        )
    errors = [FieldError(path=_path(p), message=str(p)) for p in error.problems]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if isinstance(error, TooManyAttempts):
        headers["Retry-After"] = str(error.retry_after)
    return problem_response(request, status, error.code, str(error), errors, headers)


def _json_path(location: tuple[int | str, ...]) -> str:
    parts = list(location[1:]) if location and location[0] == "body" else list(location)
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        FieldError(path=_json_path(tuple(e["loc"])), message=e["msg"]) for e in error.errors()
    ]
    if any(e["type"] == "json_invalid" for e in error.errors()):
        return problem_response(request, 400, "request.malformed", "the body is not valid JSON")
    detail = "; ".join(f"{e.path}: {e.message}" for e in errors)
    return problem_response(request, 422, "invalid_input", detail, errors)


def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = {404: "not_found", 405: "request.method_not_allowed"}.get(
        error.status_code, f"http.{error.status_code}"
    )
    headers = dict(error.headers) if error.headers else None
    return problem_response(request, error.status_code, code, str(error.detail), headers=headers)


def _bug(request: Request, error: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "-")
    log.exception("request %s: internal error", request_id, exc_info=error)
    return problem_response(
        request, 500, "internal", f"internal error (a bug in tagport); request id {request_id}"
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into a problem response."""
    app.add_exception_handler(TagportError, _tagport_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _bug)
