"""How the API answers an error: one table from exception class to HTTP status, one error body.

The status comes from the exception's class, never from its message: ``benchfarm.errors``
names each class after who can fix the problem, and :data:`HTTP_STATUS` maps that to
HTTP. The first class of the exception's MRO found in the table wins, so a subclass can
answer differently from its parent (``AuthError`` is a ``UserInputError`` but answers 401).

Choices worth knowing:

- **422, never 400**, for input the farm cannot use (a body that is not JSON, a job spec
  that fails validation, a malformed filter or baseline reference, an unknown host status):
  FastAPI answers 422 for its own parameter validation, so a client has one status meaning
  "fix your input" (FastAPI's 400 for a body that is not UTF-8 is answered as 422 too).
- **409** when the request is valid but the farm's current state refuses it: no registered
  host can run the job now (``UnsatisfiableJobError``: add a host or submit with
  ``queue_anyway``), a device a host does not allow, a job that already finished.
- **502** when a service behind the API refused a request (Elasticsearch, the Docker
  engine, the registry), **503** when it could not be reached; anything else (a
  ``SetupError`` of the API's own host included) is a bug or a broken install: 500.

Every 401 and 403 is also one document in the audit index (:func:`_audit_refusal`, queued,
never delaying the answer).

Every error body is :class:`ErrorBody`, ``{"error": ..., "hint": ...}``, including 401,
404 for an unknown path and 405 for an unsupported method.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from benchfarm.errors import (
    AuthError,
    BenchfarmError,
    BenchmarkFailedError,
    ConflictError,
    DeviceNotAllowedError,
    ForbiddenError,
    NotFoundError,
    RegistryError,
    ServiceUnavailableError,
    SetupError,
    StoreError,
    UnsatisfiableJobError,
    UserInputError,
)

log = logging.getLogger(__name__)

#: Exception class -> HTTP status; looked up along the exception's MRO (most specific first).
HTTP_STATUS: dict[type[BaseException], int] = {
    AuthError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    UnsatisfiableJobError: 409,
    DeviceNotAllowedError: 409,
    UserInputError: 422,  # SpecError and every other input the caller can fix
    StoreError: 502,  # Elasticsearch refused a request
    BenchmarkFailedError: 502,  # in the API only from the Docker engine refusing (its adapter's table)
    RegistryError: 502,  # the farm registry refused a pull
    ServiceUnavailableError: 503,
    SetupError: 500,  # the API's host is not set up: nothing the caller can do
    BenchfarmError: 500,
}

#: What each status means for this API, as the OpenAPI document says it.
DESCRIPTIONS: dict[int, str] = {
    401: "Missing, unknown or revoked bearer token (`Authorization: Bearer <token>`).",
    403: "The token's role or team does not allow this (another team's private job, an operator or internal route).",
    404: "The job, host, image or baseline named does not exist.",
    409: "Valid, but the farm's current state refuses it (no host can run the job, the job already finished).",
    422: "Invalid input: each problem names its field.",
    502: "A service behind the API (Docker engine, registry, Elasticsearch) refused the request.",
    503: "A service the API needs (Redis, Docker, Elasticsearch) is not answering; retry later.",
}


def http_status(exc: BaseException) -> int:
    """The HTTP status for ``exc``: its class's entry in :data:`HTTP_STATUS` (nearest ancestor), else 500."""
    for cls in type(exc).__mro__:
        status = HTTP_STATUS.get(cls)
        if status is not None:
            return status
    return 500


class ErrorBody(BaseModel):
    """Every error the API answers."""

    error: str = Field(description="what went wrong (for a chain of causes, one per line)")
    hint: str | None = Field(default=None, description="what to do about it, when known")


ERROR_BODY_REF = "#/components/schemas/ErrorBody"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting ``statuses`` with an :class:`ErrorBody` as JSON.

    The schema is given by reference, not as ``model=``: FastAPI documents a ``model``
    under the route's own media type, which would make a text or XML route's errors text
    or XML. ``create_app``'s OpenAPI document adds ``ErrorBody`` to the components.
    """
    return {status: {"description": DESCRIPTIONS[status],
                     "content": {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}}
            for status in statuses}


def error_response(status: int, error: str, hint: str | None = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An :class:`ErrorBody` response (``WWW-Authenticate: Bearer`` added to a 401)."""
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse(status_code=status, content=ErrorBody(error=error, hint=hint).model_dump(), headers=headers)


def _audit_refusal(request: Request, status: int, exc: BenchfarmError) -> None:
    """Queue an audit document for a refused request (never raises: the answer goes out regardless)."""
    try:
        state = request.app.state.api
        deps = state.get_deps()
        deps.audit.record("api.refused", "refused", getattr(request.state, "principal", None), status=status,
                          reason=exc.message, method=request.method, path=request.url.path,
                          target=(request.path_params or {}).get("job_id"),
                          client=request.client.host if request.client else None)
    except Exception:
        log.warning("could not audit the refusal of %s %s", request.method, request.url.path, exc_info=True)


async def _benchfarm_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BenchfarmError)
    status = http_status(exc)
    if status >= 500:
        log.error("%s %s answered %d", request.method, request.url.path, status, exc_info=exc)
    if status in (401, 403):
        _audit_refusal(request, status, exc)
    return error_response(status, exc.full_message(), exc.hint)


def describe_errors(errors: Sequence[Any], prefix: str | None = None) -> str:
    """pydantic/FastAPI validation errors as ``field.path: what is wrong; ...`` (a leading ``body.`` dropped)."""
    problems = []
    for err in errors:
        if err.get("type") == "json_invalid":
            problems.append(f"the body is not JSON: {(err.get('ctx') or {}).get('error') or err.get('msg')}")
            continue
        loc = [str(p) for p in err.get("loc", ())]
        where = ".".join(loc[1:] if loc[:1] == ["body"] and len(loc) > 1 else loc) or prefix or "request"
        problems.append(f"{where}: {err.get('msg')}")
    return "; ".join(problems)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid request: " + describe_errors(exc.errors()),
                          "see the API's OpenAPI document (/docs or /openapi.json)")


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def allowed_methods(request: Request) -> list[str]:
    """The methods the app's OpenAPI document lists for the request's path (for a 405's ``Allow``)."""
    path = request.scope["path"]
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods |= {m.upper() for m in operations if m in _HTTP_METHODS}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    # routing's own answers: 404 for an unknown path, 405 for an unsupported method
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (methods := allowed_methods(request)):
        headers["Allow"] = ", ".join(methods)  # Starlette's names only the first route on the path
    if exc.status_code == 400:  # FastAPI's answer to a body that is not UTF-8 (not JSON at all gets 422)
        return error_response(422, f"invalid request: {exc.detail}", "send the body as UTF-8 JSON")
    hint = "see the API's routes in /docs" if exc.status_code in (404, 405) else None
    return error_response(exc.status_code, str(exc.detail), hint, headers=headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal error: {type(exc).__name__}",
                          "this is a bug in benchfarm; the API's log has the traceback")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with an :class:`ErrorBody` and the status :func:`http_status` gives."""
    app.add_exception_handler(BenchfarmError, _benchfarm_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
