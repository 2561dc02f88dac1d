"""The autoscaler's view of the farm's scheduling state, from the host registry and the job records."""

from __future__ import annotations

import json

from benchfarm.elastic.autoscaler import HostFacts
from benchfarm.inventory.inventory import REASONS_KEY
from benchfarm.jobs.model import JobRecord, JobStatus
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.scheduler.service import DEFAULT_POOL

# queued jobs are looked for among the most recent ones (the listing scans ten times as many ids);
# running jobs come from the reaper's lease index, which holds exactly them
RECENT_QUEUED = 200


def _reason(raw: str | None, status: str) -> str:
    """The reason recorded with the host's current status (``benchfarm.inventory``), "" when none is."""
    if not raw:
        return ""
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    return str(data.get("reason") or "") if data.get("status") == status else ""


def job_pool(job: JobRecord) -> str:
    """The pool a job asks for (``default`` when it names none)."""
    req = job.spec.get("requirements") or {}
    return str(req.get("pool") or DEFAULT_POOL)


class RegistryFarmView:
    """``FarmView`` over the registry and the repository (both in Redis)."""

    def __init__(self, registry: HostRegistry, repo: JobRepository, clock_now=None) -> None:
        import time

        self.registry = registry
        self.repo = repo
        self.now = clock_now or time.time

    def hosts(self) -> list[HostFacts]:
        seen = self.registry.workers_seen()
        reasons = self.registry.kv.hgetall(REASONS_KEY)
        now = self.now()
        return [HostFacts(h.host_id, h.pool, h.status, now - seen.get(h.host_id, 0.0) < self.registry.stale_after_s,
                          _reason(reasons.get(h.host_id), h.status))
                for h in self.registry.hosts()]

    def _jobs(self, status: JobStatus) -> list[JobRecord]:
        return self.repo.list(status=status.value, limit=RECENT_QUEUED)

    def running(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for job in self.repo.expired_leases(1e18, limit=10_000):  # every running job, by its lease
            if job.host_id:
                out.setdefault(job.host_id, []).append(job.id)
        return out

    def pending(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        jobs = [j for j in self._jobs(JobStatus.QUEUED) + self._jobs(JobStatus.SUBMITTED) if not j.cancel_requested]
        for job in sorted(jobs, key=lambda j: j.submitted_at):
            out.setdefault(job_pool(job), []).append(job.id)
        return out

    def set_status(self, host: str, status: str) -> None:
        self.registry.set_status(host, status)
