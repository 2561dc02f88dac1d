"""The farm's HTTP API (FastAPI): submit, list, inspect, cancel and follow jobs; compare them; list hosts.

Every route but ``/healthz`` needs ``Authorization: Bearer <token>``: a user's token
(``benchfarm tokens create``, with a role: submit, operate, admin) or the one-host farm's
admin token in ``<state_dir>/api-token`` (root-only, or set ``BENCHFARM_API_TOKEN``);
``/internal/*`` takes the Salt side's credential (``<state_dir>/internal-token``). Errors
come back as ``{"error": ..., "hint": ...}`` with the status :mod:`benchfarm.api.errors`
maps each exception class to; the OpenAPI document lists every status each route answers.

Routes live in one router per resource (:mod:`benchfarm.api.routers`); this module only
assembles them. The clients behind the routes are handed in by the entry point (the
composition root's ``build_api_deps``), built on the first request that needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from benchfarm import __version__
from benchfarm.api import console
from benchfarm.api.dependencies import ApiState
from benchfarm.api.deps import ApiDeps
from benchfarm.api.errors import ERROR_BODY_REF, ErrorBody, install_error_handlers
from benchfarm.api.routers import campaigns, farm, history, hosts, internal, jobs, meta, pools, schedules, verdicts
from benchfarm.errors import SetupError
from benchfarm.settings import Settings, get_settings


class BenchfarmApi(FastAPI):
    """FastAPI whose OpenAPI document also holds ``ErrorBody``, which routes name by ``$ref``."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            doc = get_openapi(title=self.title, version=self.version, description=self.description,
                              routes=self.routes, tags=self.openapi_tags)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas[ERROR_BODY_REF.rsplit("/", 1)[-1]] = ErrorBody.model_json_schema()
            self.openapi_schema = doc
        return self.openapi_schema


_TAGS = [
    {"name": "jobs", "description": "Submit, list, inspect, cancel and follow benchmark jobs."},
    {"name": "verdicts", "description": "A job compared with a baseline (JSON, or JUnit XML for CI)."},
    {"name": "hosts", "description": "The hosts the scheduler knows."},
    {"name": "farm", "description": "Pools, hosts with their running jobs, and queue depths, in one answer."},
    {"name": "history", "description": "A benchmark's per-job results over time, with their change points."},
    {"name": "internal", "description": "Reports from the Salt side (reactors); not for users."},
    {"name": "campaigns", "description": "One spec on many targets and parameter points, compared side by side."},
    {"name": "schedules", "description": "Recurring jobs and campaigns on a cron schedule, as their creator."},
    {"name": "meta", "description": "Liveness."},
]


def create_app(settings: Settings | None = None, deps: ApiDeps | None = None, *,
               build_deps: Callable[[Settings], ApiDeps] | None = None) -> FastAPI:
    """Build the API app.

    Args:
        settings: the farm's settings (default: from the environment).
        deps: the clients behind the routes, already built (tests).
        build_deps: builds them on the first request needing them (the server passes the
            composition root's ``build_api_deps``).

    Raises:
        SetupError: the API needs a bearer token and none is configured.
    """
    settings = settings or get_settings()
    token = settings.resolved_api_token()
    if settings.api_auth and not token:
        raise SetupError("the API needs a bearer token and none is configured",
                         hint="set BENCHFARM_API_TOKEN or run `benchfarm stack up`, which writes one")
    app = BenchfarmApi(title="benchfarm", version=__version__, openapi_tags=_TAGS,
                       description="Submit containerized benchmark jobs to the farm and read their results.")
    app.state.api = ApiState(settings=settings, token=token or "",
                             internal_token=settings.resolved_internal_token() or "", deps=deps, build_deps=build_deps)
    install_error_handlers(app)
    for router in (jobs.router, verdicts.router, campaigns.router, schedules.router, hosts.router, farm.router,
                   history.router, internal.router, pools.router, meta.router):
        app.include_router(router)
    console.install(app)  # the web console under /ui (not in the OpenAPI document)
    return app
