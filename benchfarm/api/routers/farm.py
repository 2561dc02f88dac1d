"""``GET /farm``: pools, hosts with capacity and running jobs, and queue depths, in one answer
(what the web console's farm page shows)."""

from __future__ import annotations

from fastapi import APIRouter

from benchfarm.api.dependencies import Authenticated, Deps
from benchfarm.api.errors import error_responses
from benchfarm.api.overview import FarmOverview, farm_overview

router = APIRouter(prefix="/farm", tags=["farm"], dependencies=[Authenticated],
                   responses=error_responses(401, 403, 503))


@router.get("", response_model=FarmOverview)
def get_farm(d: Deps) -> FarmOverview:
    """Pools (hosts, job slots, running jobs), hosts (status, liveness, capacity, running jobs) and the
    messages waiting in each queue the hosts consume."""
    return farm_overview(d)
