"""``GET /hosts``: the hosts the scheduler knows, with capabilities, status and liveness."""

from __future__ import annotations

from fastapi import APIRouter

from benchfarm.api.dependencies import Authenticated, Deps
from benchfarm.api.errors import error_responses
from benchfarm.api.models import HostView

router = APIRouter(prefix="/hosts", tags=["hosts"], dependencies=[Authenticated],
                   responses=error_responses(401, 403, 503))


@router.get("", response_model=list[HostView])
def list_hosts(d: Deps) -> list[HostView]:
    """Registered hosts (not retired) with their capabilities, status and liveness."""
    return [HostView.model_validate(row) for row in d.hosts.describe()]
