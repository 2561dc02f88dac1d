"""``GET /healthz``: liveness, without a token (the stack's supervisor and load balancers call it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from benchfarm import __version__
from benchfarm.api.dependencies import api_state
from benchfarm.api.models import Health
from benchfarm.errors import BenchfarmError

router = APIRouter(tags=["meta"])

_HEALTH_KEY = "benchfarm:healthz"


@router.get("/healthz", response_model=Health,
            responses={503: {"model": Health, "description": "Redis (where jobs live) is not answering."}})
def healthz(request: Request) -> JSONResponse:
    """Liveness and the reachability of Redis (where jobs live): 200 ``ok`` or 503 ``degraded``."""
    try:
        deps = api_state(request.app).get_deps()
        deps.repo.kv.get(_HEALTH_KEY)  # a round trip to Redis
    except BenchfarmError as exc:
        body = Health(status="degraded", redis=False, version=__version__, error=exc.message)
        return JSONResponse(status_code=503, content=body.model_dump())
    return JSONResponse(Health(status="ok", redis=True, version=__version__).model_dump())
