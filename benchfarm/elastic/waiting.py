"""Why a queued job waits, in words, for the API and the CLI."""

from __future__ import annotations

from benchfarm.elastic.planner import PoolPlan
from benchfarm.jobs.model import JobRecord, JobStatus


def why_waiting(job: JobRecord, pool: str, plans: dict[str, PoolPlan]) -> str | None:
    """The reason job ``job`` (of pool ``pool``) is not running yet; None when it is not waiting or its pool
    is not elastic (a fixed pool's jobs wait for a free host, which its queue shows)."""
    if job.status not in (JobStatus.SUBMITTED, JobStatus.QUEUED):
        return None
    p = plans.get(pool)
    return None if p is None else p.wait_reason()
