"""The farm's HTTP API (FastAPI): submit, list, inspect, cancel and follow jobs; list hosts.

Every route but ``/healthz`` needs ``Authorization: Bearer <token>``; the
one-host farm's token is in ``<state_dir>/api-token`` (root-only), or set
``BENCHFARM_API_TOKEN``.  Errors come back as ``{"error": ..., "hint": ...}``
with a 4xx status for bad input and 503 when a backing service is down.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.concurrency import iterate_in_threadpool

from benchfarm import __version__
from benchfarm.api.deps import ApiDeps
from benchfarm.errors import (
    BenchfarmError,
    NotFoundError,
    ServiceUnavailableError,
    SetupError,
    UserInputError,
)
from benchfarm.settings import Settings, get_settings

log = logging.getLogger(__name__)


def _status_for(exc: BenchfarmError) -> int:
    if isinstance(exc, NotFoundError) and "job" in exc.message:
        return 404
    if isinstance(exc, UserInputError):
        return 422
    if isinstance(exc, ServiceUnavailableError):
        return 503
    return 500


_bearer = HTTPBearer(auto_error=False)


def get_deps(request: Request) -> ApiDeps:
    """The app's dependencies, built on first use (so the app starts even while Redis is down)."""
    st = request.app.state
    if st.deps is None:
        st.deps = ApiDeps.from_settings(st.settings)
    return st.deps


def require_token(request: Request,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """401 unless the request carries the farm's bearer token."""
    st = request.app.state
    if not st.settings.api_auth:
        return
    if creds is None or creds.scheme.lower() != "bearer" or not hmac.compare_digest(creds.credentials.encode(),
                                                                                     st.token.encode()):
        raise HTTPException(status_code=401, detail="missing or invalid bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


Deps = Annotated[ApiDeps, Depends(get_deps)]
Auth = Depends(require_token)


def create_app(settings: Settings | None = None, deps: ApiDeps | None = None) -> FastAPI:
    """Build the API app; ``deps`` defaults to real adapters built from ``settings``."""
    settings = settings or get_settings()
    token = settings.resolved_api_token()
    if settings.api_auth and not token:
        raise SetupError("the API needs a bearer token and none is configured",
                         hint="set BENCHFARM_API_TOKEN or run `benchfarm stack up`, which writes one")
    app = FastAPI(title="benchfarm", version=__version__,
                  description="Submit containerized benchmark jobs to the farm and read their results.")
    app.state.settings = settings
    app.state.token = token or ""
    app.state.deps = deps

    @app.exception_handler(BenchfarmError)
    async def _benchfarm_error(request: Request, exc: BenchfarmError) -> JSONResponse:
        return JSONResponse(status_code=_status_for(exc), content={"error": exc.full_message(), "hint": exc.hint})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{loc or 'body'}: {err.get('msg')}")
        return JSONResponse(status_code=422, content={"error": "invalid request: " + "; ".join(problems),
                                                      "hint": "see the job spec schema: `benchfarm spec schema`"})

    @app.exception_handler(ValidationError)
    async def _model_error(request: Request, exc: ValidationError) -> JSONResponse:
        # a payload valid for the route but not for a model built from it (e.g. host capabilities)
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ())) or exc.title}: {e.get('msg')}" for e in exc.errors()]
        return JSONResponse(status_code=422, content={"error": "invalid request: " + "; ".join(problems),
                                                      "hint": None})

    @app.get("/healthz", tags=["meta"])
    def healthz(d: Deps) -> JSONResponse:
        """Liveness and the reachability of Redis (where jobs live)."""
        try:
            d.repo.kv.ping()
            return JSONResponse({"status": "ok", "redis": True, "version": __version__})
        except BenchfarmError as exc:
            return JSONResponse(status_code=503, content={"status": "degraded", "redis": False, "error": exc.message})

    @app.post("/jobs", status_code=202, dependencies=[Auth], tags=["jobs"])
    def submit_job(d: Deps, body: dict[str, Any],
                   queue_anyway: Annotated[bool, Query(description="queue even if no host can run it now")] = False
                   ) -> dict[str, Any]:
        """Submit a job spec (JSON). Answers 202 with the job id once the job is stored durably."""
        from benchfarm.spec.loader import load_spec_data

        spec = load_spec_data(body)
        job = d.jobs.submit(spec, queue_anyway=queue_anyway)
        return {"id": job.id, "status": job.status.value, "queue": job.queue, "image_digest": job.image_digest}

    @app.get("/jobs", dependencies=[Auth], tags=["jobs"])
    def list_jobs(d: Deps, status: str | None = None, name: str | None = None,
                  label: Annotated[str | None, Query(description="KEY=VALUE")] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
        """Jobs, most recent first, filtered by status, spec name or a label."""
        lab = None
        if label is not None:
            if "=" not in label:
                raise UserInputError(f"label filter {label!r} must be KEY=VALUE")
            k, v = label.split("=", 1)
            lab = (k, v)
        return [j.summary() for j in d.repo.list(status=status, name=name, label=lab, limit=limit)]

    @app.get("/jobs/{job_id}", dependencies=[Auth], tags=["jobs"])
    def get_job(d: Deps, job_id: str) -> dict[str, Any]:
        """The full job record: spec, status, image digest, every repetition with its metrics."""
        return json.loads(d.repo.get(job_id).model_dump_json())

    @app.delete("/jobs/{job_id}", status_code=202, dependencies=[Auth], tags=["jobs"])
    def cancel_job(d: Deps, job_id: str) -> dict[str, Any]:
        """Cancel a job: a queued job never starts; a running container is stopped."""
        job = d.jobs.cancel(job_id)
        return {"id": job.id, "status": job.status.value, "cancel_requested": job.cancel_requested}

    @app.get("/jobs/{job_id}/events", dependencies=[Auth], tags=["jobs"])
    def job_events(d: Deps, job_id: str, follow: bool = True):
        """The job's events as server-sent events (``follow=false``: the events so far, as JSON)."""
        d.repo.get(job_id)
        if not follow:
            return [json.loads(e.model_dump_json()) for e in d.repo.events(job_id)]
        from sse_starlette.sse import EventSourceResponse

        def gen():
            try:
                for ev in d.repo.follow(job_id):
                    yield {"event": ev.type.value, "id": str(ev.seq), "data": ev.model_dump_json()}
            except BenchfarmError as exc:  # the stream has started: report in-band, then end it
                yield {"event": "error", "data": json.dumps({"error": exc.message, "hint": exc.hint})}

        return EventSourceResponse(iterate_in_threadpool(gen()))

    @app.get("/jobs/{job_id}/logs", dependencies=[Auth], tags=["jobs"], response_class=PlainTextResponse)
    def job_logs(d: Deps, job_id: str) -> str:
        """Each repetition's container output (bounded), with a header per repetition."""
        job = d.repo.get(job_id)
        parts = []
        for r in job.repetitions:
            head = f"=== repetition {r.index}{' (warm-up)' if r.warmup else ''} exit={r.exit_code}"
            parts.append(head + (" [truncated]" if r.logs_truncated else "") + "\n" + r.logs)
        return "\n".join(parts)

    @app.get("/hosts", dependencies=[Auth], tags=["hosts"])
    def list_hosts(d: Deps) -> list[dict[str, Any]]:
        """Registered hosts with their capabilities, status and liveness."""
        return d.hosts.describe()

    try:
        from benchfarm.api.extra_routes import register as register_extra

        register_extra(app, Auth, Deps)
    except ImportError:
        pass
    return app
