"""``/pools``: elastic pool definitions (what the autoscaler grows and shrinks) and why a job waits.

Reading is open to every user; defining or changing a pool needs an operate token (it spends money).
Each pool comes back with what the autoscaler's next pass will do and why, computed by the same
planner that decides (``benchfarm.elastic.planner``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from benchfarm.access.tokens import Role
from benchfarm.api.dependencies import Authenticated, Caller, Deps, JobId, require_role
from benchfarm.api.deps import ApiDeps
from benchfarm.api.errors import error_responses
from benchfarm.api.routers.jobs import readable_job
from benchfarm.elastic.definition import NewPool, PoolDefinition, PoolSettings
from benchfarm.elastic.fair_share import ShareGate
from benchfarm.elastic.farm_view import job_pool
from benchfarm.elastic.planner import PoolPlan
from benchfarm.elastic.store import ElasticPoolStore
from benchfarm.elastic.waiting import why_waiting
from benchfarm.errors import NotFoundError, ServiceUnavailableError

router = APIRouter(tags=["pools"], dependencies=[Authenticated], responses=error_responses(401, 403, 503))
Operator = Depends(require_role(Role.OPERATE))


class PoolStatus(BaseModel):
    """An elastic pool: its definition and what the autoscaler does next."""

    definition: PoolDefinition
    next: str = Field(description="what the autoscaler's next pass will do, and why")
    wait_reason: str | None = Field(None, description="why the pool's queued jobs wait (None: none wait)")
    hosts: int
    creating: int
    pending: int
    spent_today: float


class JobWait(BaseModel):
    job_id: str
    status: str
    pool: str
    reason: str | None = Field(description="why the job is not running yet; None when it is not waiting or its "
                                           "pool is not elastic")


def _store(d: ApiDeps) -> ElasticPoolStore:
    if d.elastic_pools is None:
        raise ServiceUnavailableError("this API was started without elastic pools", hint="use the farm's API")
    return d.elastic_pools


def _plans(d: ApiDeps) -> dict[str, PoolPlan]:
    return d.pool_plans() if d.pool_plans is not None else {}


def _status(definition: PoolDefinition, p: PoolPlan | None) -> PoolStatus:
    if p is None:
        return PoolStatus(definition=definition, next="unknown", hosts=0, creating=0, pending=0, spent_today=0.0)
    return PoolStatus(definition=definition, next=p.next_step(), wait_reason=p.wait_reason() if p.pending else None,
                      hosts=p.hosts, creating=p.creating, pending=p.pending, spent_today=round(p.spent_today, 6))


@router.get("/pools", response_model=list[PoolStatus])
def list_pools(d: Deps) -> list[PoolStatus]:
    """Every elastic pool with what the autoscaler does next."""
    plans = _plans(d)
    return [_status(p, plans.get(name)) for name, p in sorted(_store(d).definitions().items())]


@router.get("/pools/{name}", response_model=PoolStatus, responses=error_responses(404, 422))
def show_pool(d: Deps, name: str) -> PoolStatus:
    """One elastic pool."""
    return _status(_store(d).get(name), _plans(d).get(name))


@router.post("/pools", status_code=201, response_model=PoolDefinition, dependencies=[Operator],
             responses=error_responses(409, 422))
def create_pool(d: Deps, caller: Caller, body: NewPool) -> PoolDefinition:
    """Define an elastic pool (operate role)."""
    pool = _store(d).create(body.model_dump(exclude_unset=True))
    d.audit.record("pools.create", "allowed", caller, target=pool.name, reason=pool.summary())
    return pool


@router.patch("/pools/{name}", response_model=PoolDefinition, dependencies=[Operator],
              responses=error_responses(404, 422))
def edit_pool(d: Deps, caller: Caller, name: str, body: PoolSettings) -> PoolDefinition:
    """Change an elastic pool's definition (operate role): the fields given; the next autoscaler pass acts on it."""
    pool = _store(d).edit(name, body.model_dump(exclude_unset=True))
    d.audit.record("pools.edit", "allowed", caller, target=name, reason=pool.summary())
    return pool


@router.get("/jobs/{job_id}/wait", response_model=JobWait, responses=error_responses(404, 422))
def job_wait(d: Deps, caller: Caller, job_id: JobId) -> JobWait:
    """Why a job is not running yet, e.g. "waiting for a host of pool cpu-large (2 of max 4 being created)"."""
    job = readable_job(d, caller, job_id)
    pool = job_pool(job)
    try:
        plans = _plans(d)
    except NotFoundError:
        plans = {}
    reason = why_waiting(job, pool, plans)
    if reason is not None and d.elastic_pools is not None:
        # a host may be free, yet the job steps back for a team below its share (benchfarm.elastic.fair_share)
        verdict = ShareGate(d.elastic_pools.all_shares, d.hosts, d.repo).check(job)
        if not verdict.run:
            reason = verdict.reason
    return JobWait(job_id=job.id, status=job.status.value, pool=pool, reason=reason)
