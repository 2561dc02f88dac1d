"""What the farm does when the Salt side reports a benchmark container that died badly.

Called by ``POST /internal/container-events`` (reactor path) and by reconciliation
after the Docker event stream came back. Idempotent per (container id, action):
an OOM kill is reported twice (``oom`` then ``die``) and reconciliation may report
again what the stream already told.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from benchfarm.jobs.model import EventType, JobRecord, JobStatus, now
from benchfarm.jobs.repository import NO_CHANGE, JobRepository


@dataclass(frozen=True)
class Outcome:
    """What recording one report did."""

    recorded: bool
    job_failed: bool = False
    comment: str = ""


def failure_reason(payload: dict[str, Any]) -> str:
    """``oom-killed`` or ``exited <code>`` for a container-event payload."""
    if payload.get("oom_killed") or payload.get("action") == "oom":
        return "oom-killed"
    return f"exited {payload.get('exit_code')}"


def worker_gone(job: JobRecord, at: float | None = None) -> bool:
    """True when no live worker holds the job: no lease, or its lease expired."""
    return job.lease_until is None or job.lease_until < (at or time.time())


def record_container_event(repo: JobRepository, payload: dict[str, Any]) -> Outcome:
    """Record a container report into its job: a ``container_event`` event, and when the
    job is still ``running`` with its worker gone, fail it with the reason (``oom-killed``).

    A job that is already final only keeps what it has (its worker recorded the outcome).

    Raises:
        NotFoundError: no job has the payload's ``job_id``.
    """
    job_id = str(payload["job_id"])
    job = repo.get(job_id)
    key = (payload.get("container_id"), payload.get("action"))
    for ev in repo.events(job_id):
        if ev.type == EventType.CONTAINER_EVENT and (ev.data.get("container_id"), ev.data.get("action")) == key:
            return Outcome(False, comment="already recorded")
    if job.status.final:
        return Outcome(False, comment=f"job already {job.status.value}")
    reason = failure_reason(payload)
    repo.emit(job_id, EventType.CONTAINER_EVENT, {**payload, "reason": reason})

    def _fail(j: JobRecord):
        if j.status != JobStatus.RUNNING or not worker_gone(j):
            return NO_CHANGE
        j.status = JobStatus.FAILED
        j.reason = reason
        j.lease_until = None
        j.finished_at = now()
        return "failed"

    _, what = repo.update(job_id, _fail)
    if what == "failed":
        repo.emit(job_id, EventType.FAILED, {"reason": reason, "by": "container-event",
                                             "host_id": payload.get("host_id")})
        return Outcome(True, job_failed=True, comment=reason)
    return Outcome(True, comment="recorded; the job's worker handles the outcome")

