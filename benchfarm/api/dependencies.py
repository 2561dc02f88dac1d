"""What every route depends on: who is calling (bearer token -> :class:`Principal`) and the farm's clients.

A bearer token is one of: the farm's own token (``<state_dir>/api-token``, an admin, as
before users existed), the internal credential the Salt side sends (``<state_dir>/internal-token``,
good for ``/internal/*`` only), or a user's token from ``benchfarm tokens create`` (looked up
by its SHA-256 in Redis). The first two need no Redis. A route needing more than the
submit role depends on :func:`require_role`; refusals are :class:`ForbiddenError` (403),
and every 401 and 403 is audited by the error handler (:mod:`benchfarm.api.errors`).

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

from benchfarm.access.tokens import FARM_ADMIN, SALT_INTERNAL, Principal, Role
from benchfarm.api.deps import ApiDeps
from benchfarm.errors import AuthError, ForbiddenError, SetupError
from benchfarm.settings import Settings


@dataclass
class ApiState:
    """What :func:`benchfarm.api.app.create_app` keeps on ``app.state.api``."""

    settings: Settings
    token: str
    internal_token: str = ""
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


_bearer = HTTPBearer(auto_error=False, description="a user's token (`benchfarm tokens create`), or the farm's admin "
                                                    "token (`<state_dir>/api-token` on the farm host)")

_AUTH_HINT = ("send `Authorization: Bearer <token>`: a token from `benchfarm tokens create`, or the farm's admin "
              "token in <state_dir>/api-token")


def _same(given: str, known: str) -> bool:
    return bool(known) and hmac.compare_digest(given.encode(), known.encode())


def require_token(request: Request,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """FastAPI dependency: who is calling; kept on ``request.state.principal`` for the audit.

    Raises:
        AuthError (401): no token, an unknown one or a revoked one.
        ServiceUnavailableError (503): a user token and Redis, where tokens live, is not answering.
    """
    return principal_of(request, creds.credentials if creds is not None else None)


def principal_of(request: Request, given: str | None) -> Principal:
    """Who holds the token ``given`` (a bearer token, or the web console's sign-in cookie); kept on
    ``request.state.principal`` for the audit.

    Raises:
        AuthError (401): no token, an unknown one or a revoked one.
        ServiceUnavailableError (503): a user token and Redis, where tokens live, is not answering.
    """
    state = api_state(request.app)
    if not state.settings.api_auth:
        request.state.principal = FARM_ADMIN
        return FARM_ADMIN
    if not given:
        raise AuthError("missing bearer token", hint=_AUTH_HINT)
    if _same(given, state.token):
        principal = FARM_ADMIN
    elif _same(given, state.internal_token):
        principal = SALT_INTERNAL
    else:
        record = state.get_deps().tokens.lookup(given)
        if record is None:
            raise AuthError("invalid bearer token", hint=_AUTH_HINT)
        if record.revoked:
            request.state.principal = record.principal  # the audit names whose revoked token it was
            raise AuthError(f"token {record.id} of {record.user} was revoked at {record.revoked}",
                            hint="ask a farm admin for a new one (`benchfarm tokens create`)")
        principal = record.principal
    request.state.principal = principal
    return principal


def _forbidden_hint(principal: Principal, needed: Role) -> str:
    if needed is Role.INTERNAL:
        return "the internal routes take the farm's internal credential (<state_dir>/internal-token) or an admin token"
    if principal.role is Role.INTERNAL:
        return "the internal credential opens /internal/* only: use a user token (`benchfarm tokens create`)"
    return "ask a farm admin for a token with that role"


def ensure_role(principal: Principal, needed: Role) -> Principal:
    """``principal`` if its role includes ``needed``.

    Raises:
        ForbiddenError (403): it does not.
    """
    if not principal.role.allows(needed):
        raise ForbiddenError(f"{principal.user} ({principal.role.value}) may not do this: it needs the "
                             f"{needed.value} role", hint=_forbidden_hint(principal, needed))
    return principal


def require_role(needed: Role) -> Callable[..., Principal]:
    """A FastAPI dependency admitting callers whose role includes ``needed`` (ForbiddenError, 403, otherwise)."""

    def check_role(principal: Annotated[Principal, Depends(require_token)]) -> Principal:
        return ensure_role(principal, needed)

    return check_role


Deps = Annotated[ApiDeps, Depends(get_deps)]
_any_user = require_role(Role.SUBMIT)
#: Routes open to every user role (the internal credential is refused: 403).
Authenticated = Depends(_any_user)
#: The caller of such a route.
Caller = Annotated[Principal, Depends(_any_user)]
#: Routes for the Salt side: the internal credential (or an admin).
Internal = Depends(require_role(Role.INTERNAL))

#: The grammar of a job id: ``job-<timestamp>-<hex>`` as the farm makes them, or a UUID.
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, max_length=200,
                            description="a job id, e.g. job-20261201120000-1a2b3c4d")]
