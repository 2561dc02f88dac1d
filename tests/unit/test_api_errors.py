"""The API's one table from exception class to HTTP status, and the error body every error gets."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from benchfarm.api.errors import HTTP_STATUS, http_status, install_error_handlers
from benchfarm.errors import (
    AuthError,
    BenchfarmError,
    BenchmarkFailedError,
    ConflictError,
    DeviceNotAllowedError,
    ImageBuildError,
    ImageValidationError,
    NotFoundError,
    RegistryError,
    ServiceUnavailableError,
    SetupError,
    SpecError,
    StoreError,
    UnsatisfiableJobError,
    UserInputError,
)
from benchfarm.spec.loader import SpecProblem, SpecValidationError

CASES = [
    # (exception, status, why)
    (AuthError("no token"), 401, "a UserInputError child answers its own status, not its parent's"),
    (NotFoundError("no job with id 'x'"), 404, "any missing thing, whatever the message says"),
    (NotFoundError("no registered host 'h'"), 404, "an unknown host is 404 too (it was 422: no 'job' in the message)"),
    (ConflictError("job already succeeded"), 409, "valid request, wrong state"),
    (UnsatisfiableJobError("no host can run it"), 409, "the farm's current hosts refuse it"),
    (DeviceNotAllowedError("/dev/x not allowed"), 409, "a host's allow-list refuses it"),
    (UserInputError("bad label filter"), 422, "input the caller can fix"),
    (SpecError("bad spec"), 422, "a spec that fails validation"),
    (SpecValidationError("<request>", [SpecProblem("name", "required field is missing")]), 422, "the loader's error"),
    (StoreError("mapping conflict"), 502, "Elasticsearch refused"),
    (BenchmarkFailedError("the Docker engine refused"), 502, "the engine refused"),
    (ImageValidationError("self-test failed"), 502, "a child of BenchmarkFailedError"),
    (RegistryError("pull failed"), 502, "the registry refused"),
    (ServiceUnavailableError("redis down"), 503, "a backing service is unreachable"),
    (SetupError("not root"), 500, "the API's own host is broken"),
    (ImageBuildError("build failed"), 500, "no entry: falls back to BenchfarmError's"),
    (BenchfarmError("something"), 500, "the root"),
    (ValueError("a bug"), 500, "not ours at all"),
]


@pytest.mark.parametrize(("exc", "status", "why"), CASES, ids=[f"{type(c[0]).__name__}-{c[1]}" for c in CASES])
def test_status_comes_from_the_exception_class(exc, status, why):
    assert http_status(exc) == status, why


def test_every_class_in_the_table_is_a_benchfarm_error():
    assert all(issubclass(cls, BenchfarmError) for cls in HTTP_STATUS)


def _app_raising(exc: BaseException) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(("exc", "status", "why"), CASES[:-1], ids=[f"{type(c[0]).__name__}" for c in CASES[:-1]])
def test_each_error_answers_the_error_body(exc, status, why):
    resp = _app_raising(exc).get("/boom")
    assert resp.status_code == status, why
    assert resp.json() == {"error": exc.full_message(), "hint": exc.hint}


def test_the_cause_chain_and_hint_reach_the_body():
    try:
        try:
            raise ConnectionRefusedError("connection refused")
        except ConnectionRefusedError as cause:
            raise ServiceUnavailableError("cannot reach Redis", hint="start it") from cause
    except ServiceUnavailableError as exc:
        err = exc
    body = _app_raising(err).get("/boom").json()
    assert body == {"error": "cannot reach Redis\n  caused by ConnectionRefusedError: connection refused",
                    "hint": "start it"}


def test_a_bug_answers_500_with_the_error_body_not_a_traceback():
    resp = _app_raising(KeyError("spec")).get("/boom")
    assert resp.status_code == 500
    assert resp.json()["error"] == "internal error: KeyError"
    assert "Traceback" not in resp.text


def test_a_401_asks_for_a_bearer_token():
    resp = _app_raising(AuthError("missing or invalid bearer token")).get("/boom")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
