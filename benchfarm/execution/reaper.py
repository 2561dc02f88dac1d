"""The reaper: puts right the jobs that nobody is running any more.

It runs in every worker's housekeeping process, apart from the executor, so a
worker that died mid-job is noticed by any other live worker.  Every change it
makes is a compare-and-set through ``JobRepository.update``: the closure checks
that the job is still in the state the reaper saw (a lease still expired, a job
still ``submitted``) and changes nothing otherwise, so a reaper never undoes a
live worker's claim.
"""

from __future__ import annotations

from typing import Protocol

from benchfarm.clock import SYSTEM_CLOCK, Clock
from benchfarm.jobs.model import EventType, JobRecord, JobStatus
from benchfarm.jobs.repository import NO_CHANGE, JobRepository
from benchfarm.runner.container_spec import LABEL_JOB
from benchfarm.runner.engine import Engine

DEFAULT_QUEUE = "pool.default"
SWEEP_LIMIT = 500  # jobs looked at per sweep, most recent first


class Dispatcher(Protocol):
    """Hands a job to the broker (``benchfarm.adapters.celery_app.CeleryDispatcher``)."""

    def enqueue(self, job_id: str, queue: str, priority: int) -> str: ...


class Reaper:
    """Finds jobs nobody is running any more and puts them right.

    - a ``running`` job whose lease expired (its worker died): its leftover
      container on this host is killed, then the job is queued again, or failed
      with reason "worker lost" once it used up its attempts;
    - a ``submitted`` job never handed to the broker (the broker was down at
      submit): it is queued now.
    So no job stays ``running`` forever and no accepted job is lost.

    Args:
        repo: the job records.
        dispatcher: where jobs are queued again.
        engine: this host's container engine, to remove a lost job's containers (None: leave them).
        max_attempts: a job that expired after this many attempts is failed instead of queued again.
        submitted_grace_s: how long a ``submitted`` job may wait for the API to queue it.
        clock: where lease expiry and timestamps are read (default: the system clock).
    """

    def __init__(self, repo: JobRepository, dispatcher: Dispatcher, engine: Engine | None = None,
                 max_attempts: int = 2, *, submitted_grace_s: float = 30.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self.repo = repo
        self.dispatcher = dispatcher
        self.engine = engine
        self.max_attempts = max_attempts
        self.submitted_grace_s = submitted_grace_s
        self.clock = clock

    def sweep(self) -> list[str]:
        """One pass; returns the ids of the jobs it acted on.

        Raises whatever the repository, the engine or the dispatcher raise (the
        housekeeping loop logs it and sweeps again later).
        """
        acted = []
        for job in self.repo.list(limit=SWEEP_LIMIT):
            if job.status == JobStatus.RUNNING and self._lease_expired(job):
                self._kill_leftovers(job.id)
                if self._requeue_or_fail(job.id):
                    acted.append(job.id)
            elif job.status == JobStatus.SUBMITTED and self._stale_submission(job):
                self._queue_submitted(job)
                acted.append(job.id)
        return acted

    def _lease_expired(self, job: JobRecord) -> bool:
        lease = job.lease_until
        if not lease:  # no lease yet (or one cleared): nothing to expire
            return False
        return lease < self.clock.now()

    def _stale_submission(self, job: JobRecord) -> bool:
        return self.clock.now() - job.submitted_at.timestamp() > self.submitted_grace_s

    def _queue_submitted(self, job: JobRecord) -> None:
        # Enqueue first: if the broker is still down this raises and the job stays
        # ``submitted`` for the next sweep. A duplicate message is harmless (claim is idempotent).
        self.dispatcher.enqueue(job.id, job.queue or DEFAULT_QUEUE, job.priority)

        def mark_queued(record: JobRecord) -> object:
            if record.status != JobStatus.SUBMITTED:  # a worker took it meanwhile: leave its state alone
                return NO_CHANGE
            record.status = JobStatus.QUEUED
            return None

        _, changed = self.repo.update(job.id, mark_queued)
        if changed is not NO_CHANGE:
            self.repo.emit(job.id, EventType.QUEUED, {"queue": job.queue, "by": "reaper"})

    def _kill_leftovers(self, job_id: str) -> None:
        if self.engine is None:
            return
        for c in self.engine.containers_with_label(LABEL_JOB, job_id):
            self.engine.remove(c["id"])

    def _requeue_or_fail(self, job_id: str) -> bool:
        finished_at = self.clock.utcnow()

        def release_expired_lease(job: JobRecord) -> object:
            if job.status != JobStatus.RUNNING or not self._lease_expired(job):
                return NO_CHANGE
            job.lease_until = None
            if job.attempts >= self.max_attempts:
                job.status = JobStatus.FAILED
                job.reason = f"worker lost (after {job.attempts} attempts)"
                job.finished_at = finished_at
                return "failed"
            job.status = JobStatus.QUEUED
            job.reason = f"worker {job.worker_id} lost; queued again"
            return "requeued"

        job, what = self.repo.update(job_id, release_expired_lease)
        if what == "failed":
            self.repo.emit(job_id, EventType.FAILED, {"reason": job.reason})
        elif what == "requeued":
            self.dispatcher.enqueue(job_id, job.queue or DEFAULT_QUEUE, job.priority)
            self.repo.emit(job_id, EventType.REQUEUED, {"reason": job.reason, "attempts": job.attempts})
        return what is not NO_CHANGE
