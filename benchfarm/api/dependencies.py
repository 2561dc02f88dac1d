"""What every route depends on: the bearer-token check and the farm's clients (:class:`ApiDeps`).

The clients are not built here: the entry point hands ``create_app`` a builder (the
composition root's :func:`benchfarm.composition.build_api_deps`), called on the first
request that needs them, so the API starts (and answers ``/healthz``) while Redis or
Docker is still down. The API package never imports the composition root.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, FastAPI, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from benchfarm.api.deps import ApiDeps
from benchfarm.errors import AuthError, SetupError
from benchfarm.settings import Settings


@dataclass
class ApiState:
    """What :func:`benchfarm.api.app.create_app` keeps on ``app.state.api``."""

    settings: Settings
    token: str
    deps: ApiDeps | None = None
    build_deps: Callable[[Settings], ApiDeps] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get_deps(self) -> ApiDeps:
        """The app's :class:`ApiDeps`, built once by the composition root on first use.

        Raises:
            ServiceUnavailableError: a backing service cannot be reached (the next request tries again).
        """
        if self.deps is None:
            with self.lock:
                if self.deps is None:
                    if self.build_deps is None:
                        raise SetupError("this API app was made without its clients",
                                         hint="serve it with `benchfarm api serve`, which hands them in")
                    self.deps = self.build_deps(self.settings)
        return self.deps


def api_state(app: FastAPI) -> ApiState:
    """The :class:`ApiState` of an app made by ``create_app``."""
    state = app.state.api
    assert isinstance(state, ApiState)
    return state


def get_deps(request: Request) -> ApiDeps:
    """FastAPI dependency: the app's :class:`ApiDeps`."""
    return api_state(request.app).get_deps()


_bearer = HTTPBearer(auto_error=False, description="the farm's API token (`<state_dir>/api-token` on the farm host)")


def require_token(request: Request,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """FastAPI dependency: raise AuthError (401) unless the request carries the farm's bearer token."""
    state = api_state(request.app)
    if not state.settings.api_auth:
        return
    if creds is None or not hmac.compare_digest(creds.credentials.encode(), state.token.encode()):
        raise AuthError("missing or invalid bearer token",
                        hint="send `Authorization: Bearer <token>`; the farm's token is in <state_dir>/api-token")


Deps = Annotated[ApiDeps, Depends(get_deps)]
Authenticated = Depends(require_token)

#: The grammar of a job id: ``job-<timestamp>-<hex>`` as the farm makes them, or a UUID.
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, max_length=200,
                            description="a job id, e.g. job-20261201120000-1a2b3c4d")]
