"""Signing in to the console: a token checked as the API checks a bearer token, kept in an HttpOnly cookie.

A page depends on :func:`console_caller`: no cookie, or one whose token is unknown or revoked, raises
:class:`SignInNeeded`, which the console answers with a redirect to the sign-in page (and nothing of the
page). Refusals are audited like the API's (the console's error handler hands them to the API's).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response

from benchfarm.access.tokens import Principal, Role
from benchfarm.api.dependencies import ensure_role, principal_of
from benchfarm.errors import AuthError

COOKIE = "benchfarm_console"
COOKIE_PATH = "/ui"
#: how long a browser keeps the sign-in (the token itself may be revoked sooner: every page checks it)
COOKIE_MAX_AGE_S = 12 * 3600


class SignInNeeded(Exception):
    """The request carries no usable sign-in; ``next_path`` is where to come back to."""

    def __init__(self, next_path: str, reason: str | None = None) -> None:
        super().__init__(reason or "sign in")
        self.next_path = next_path
        self.reason = reason


def check_token(request: Request, token: str) -> Principal:
    """The principal of ``token`` if it may use the console (any user role; not the internal credential).

    Raises:
        AuthError (401): unknown or revoked.
        ForbiddenError (403): the internal credential.
        ServiceUnavailableError (503): Redis, where user tokens live, is not answering.
    """
    return ensure_role(principal_of(request, token), Role.SUBMIT)


def console_caller(request: Request) -> Principal:
    """FastAPI dependency: the signed-in caller of a console page.

    Raises:
        SignInNeeded: no cookie, or its token is unknown or revoked (the page is not rendered).
    """
    token = request.cookies.get(COOKIE)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not token:
        raise SignInNeeded(here)
    try:
        return check_token(request, token)
    except AuthError as exc:
        raise SignInNeeded(here, exc.message) from exc


ConsoleCaller = Annotated[Principal, Depends(console_caller)]


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a console path, never another site (``//evil``, ``https://...``)."""
    if path and path.startswith(COOKIE_PATH) and not path.startswith("//") and "\\" not in path:
        return path
    return COOKIE_PATH


def sign_in_url(next_path: str) -> str:
    return f"{COOKIE_PATH}/login?next={quote(safe_next(next_path), safe='/')}"


def set_sign_in(response: Response, token: str, secure: bool) -> None:
    """Keep ``token`` in the console's cookie: HttpOnly, SameSite=Strict, for ``/ui`` only."""
    response.set_cookie(COOKIE, token, max_age=COOKIE_MAX_AGE_S, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=secure)


def clear_sign_in(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
