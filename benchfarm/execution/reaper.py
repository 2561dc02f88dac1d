"""The reaper: puts right the jobs that nobody is running any more.

It runs in every worker's housekeeping process, apart from the executor, so a
worker that died mid-job is noticed by any other live worker.  Every change it
makes is a compare-and-set through ``JobRepository.update``: the closure checks
that the job is still in the state the reaper read (the same attempt with the same
expired lease, a job still ``submitted``) and changes nothing otherwise, so a reaper
never undoes a live worker's claim, a cancel or a re-run.

The broker is told first and the record changed after: when the broker is down the
enqueue raises and the job is left as it was, for the next sweep; a message sent for
a job that then turns out to have moved on is dropped by the claim (idempotent).

A sweep reads the repository's indexes of running jobs by lease expiry and of
submitted jobs by age, so its work follows the jobs that are due, not the history.
"""

from __future__ import annotations

import logging
from typing import Protocol

from benchfarm.clock import SYSTEM_CLOCK, Clock
from benchfarm.jobs.model import EventType, JobRecord, JobStatus
from benchfarm.jobs.repository import NO_CHANGE, JobRepository
from benchfarm.runner.container_spec import LABEL_JOB
from benchfarm.runner.engine import Engine

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "pool.default"
SWEEP_LIMIT = 500  # due jobs handled per sweep (of each kind); the next sweep takes the rest


class Dispatcher(Protocol):
    """Hands a job to the broker (``benchfarm.adapters.celery_app.CeleryDispatcher``)."""

    def enqueue(self, job_id: str, queue: str, priority: int) -> str: ...
    def waiting(self, queues: list[str]) -> set[str]:
        """Ids of the jobs with a message in one of ``queues`` or taken by a worker and not acknowledged yet."""
        ...

    def enqueue_many(self, jobs: list[tuple[str, str, int]]) -> None: ...


class JobMirror(Protocol):
    """Where a job the reaper ended is mirrored for search (``ResultSink.job_record``)."""

    def job_record(self, job: JobRecord) -> None: ...


class Reaper:
    """Finds jobs nobody is running any more and puts them right.

    - a ``running`` job whose lease expired (its worker died): its leftover
      container on this host is killed, then the job is queued again, or failed
      with reason "worker lost" once it used up its attempts;
    - a ``submitted`` job never handed to the broker (the broker was down at
      submit): it is queued now;
    - a bulk-submitted job whose message was never confirmed sent (the API died
      or the broker refused between storing the batch and queueing it): its
      message is sent again;
    - a ``queued`` job whose message is neither in its queue nor held by a
      worker (a worker took it and died, or was cut off, before the broker
      recorded it as taken: seen in the fault campaign, bench/faults.py): it is
      sent again once it has waited ``lost_message_grace_s``; a look at most
      every ``lost_check_every_s``, as it reads the queues' messages.
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
                 max_attempts: int = 2, *, submitted_grace_s: float = 30.0, lost_message_grace_s: float = 60.0,
                 lost_check_every_s: float = 30.0, mirror: JobMirror | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.repo = repo
        self.dispatcher = dispatcher
        self.engine = engine
        self.max_attempts = max_attempts
        self.submitted_grace_s = submitted_grace_s
        self.lost_message_grace_s = lost_message_grace_s
        self.lost_check_every_s = lost_check_every_s
        self.clock = clock
        self._lost_checked_at: float | None = None
        self.mirror = mirror

    def sweep(self) -> list[str]:
        """One pass; returns the ids of the jobs it acted on.

        Raises whatever the repository, the engine or the dispatcher raise (the
        housekeeping loop logs it and sweeps again later).
        """
        self.repo.ensure_indexes()
        acted = []
        for job in self.repo.expired_leases(self.clock.now(), limit=SWEEP_LIMIT):
            self._kill_leftovers(job.id)
            if self._requeue_or_fail(job):
                acted.append(job.id)
        for job in self.repo.submitted_before(self.clock.now() - self.submitted_grace_s, limit=SWEEP_LIMIT):
            if self._queue_submitted(job):
                acted.append(job.id)
        undispatched = self.repo.undispatched_before(self.clock.now() - self.submitted_grace_s, limit=SWEEP_LIMIT)
        if undispatched:  # broker first: down, it raises and the jobs stay in the index for the next sweep
            self.dispatcher.enqueue_many([(j.id, j.queue or DEFAULT_QUEUE, j.priority) for j in undispatched])
            self.repo.dispatched([j.id for j in undispatched])
            for job in undispatched:
                self.repo.emit(job.id, EventType.QUEUED, {"queue": job.queue, "by": "reaper"})
            acted += [j.id for j in undispatched]
        return acted + self._send_lost_messages_again()

    def _send_lost_messages_again(self) -> list[str]:
        """Send again the message of every queued job that has none waiting or taken (a duplicate of one that
        was only being taken at that moment is dropped by the claim)."""
        now = self.clock.monotonic()
        if self._lost_checked_at is not None and now - self._lost_checked_at < self.lost_check_every_s:
            return []
        self._lost_checked_at = now
        cutoff = self.clock.now() - self.lost_message_grace_s
        overdue = self.repo.queued_before(cutoff, limit=SWEEP_LIMIT)
        if not overdue:
            return []
        waiting = self.dispatcher.waiting(sorted({j.queue or DEFAULT_QUEUE for j in overdue}))
        lost = [j for j in overdue if j.id not in waiting]
        for job in lost:
            self.dispatcher.enqueue(job.id, job.queue or DEFAULT_QUEUE, job.priority)
            self.repo.emit(job.id, EventType.QUEUED, {"queue": job.queue, "by": "reaper",
                                                      "reason": "its message was lost; sent again"})
        return [j.id for j in lost]

    def _queue_submitted(self, seen: JobRecord) -> bool:
        # Enqueue first: if the broker is still down this raises and the job stays
        # ``submitted`` for the next sweep. A duplicate message is harmless (claim is idempotent).
        self.dispatcher.enqueue(seen.id, seen.queue or DEFAULT_QUEUE, seen.priority)

        def mark_queued(record: JobRecord) -> object:
            if record.status != JobStatus.SUBMITTED:  # a worker took it meanwhile: leave its state alone
                return NO_CHANGE
            record.status = JobStatus.QUEUED
            return None

        _, changed = self.repo.update(seen.id, mark_queued)
        if changed is NO_CHANGE:
            return False
        self.repo.emit(seen.id, EventType.QUEUED, {"queue": seen.queue, "by": "reaper"})
        return True

    def _kill_leftovers(self, job_id: str) -> None:
        if self.engine is None:
            return
        for c in self.engine.containers_with_label(LABEL_JOB, job_id):
            self.engine.remove(c["id"])

    @staticmethod
    def _unchanged(seen: JobRecord, job: JobRecord) -> bool:
        """True when ``job`` is still in the state the reaper read: the same attempt, its lease not renewed."""
        return (job.status == JobStatus.RUNNING and job.attempts == seen.attempts
                and job.worker_id == seen.worker_id and job.lease_until == seen.lease_until)

    def _requeue_or_fail(self, seen: JobRecord) -> bool:
        """Queue the expired job again (or fail it after its last attempt), only from the state it was read in."""
        if seen.attempts >= self.max_attempts:
            return self._fail_lost(seen)
        if not self._unchanged(seen, self.repo.get(seen.id)):  # renewed or taken while its containers went
            return False
        # the broker first: down, it raises and the job stays as it is for the next sweep
        self.dispatcher.enqueue(seen.id, seen.queue or DEFAULT_QUEUE, seen.priority)

        def queue_again_if_unchanged(job: JobRecord) -> object:
            if not self._unchanged(seen, job):  # claimed by the message just sent, cancelled, failed...
                return NO_CHANGE
            job.status = JobStatus.QUEUED
            job.lease_until = None
            job.reason = f"worker {job.worker_id} lost; queued again"
            return None

        job, what = self.repo.update(seen.id, queue_again_if_unchanged)
        if what is NO_CHANGE:
            return False
        self.repo.emit(seen.id, EventType.REQUEUED, {"reason": job.reason, "attempts": job.attempts})
        return True

    def _fail_lost(self, seen: JobRecord) -> bool:
        finished_at = self.clock.utcnow()

        def fail_if_unchanged(job: JobRecord) -> object:
            if not self._unchanged(seen, job):
                return NO_CHANGE
            job.lease_until = None
            job.status = JobStatus.FAILED
            job.reason = f"worker lost (after {job.attempts} attempts)"
            job.finished_at = finished_at
            return None

        job, what = self.repo.update(seen.id, fail_if_unchanged)
        if what is NO_CHANGE:
            return False
        self.repo.emit(seen.id, EventType.FAILED, {"reason": job.reason})
        if self.mirror is not None:  # no executor publishes this end (the fault campaign found it missing)
            try:
                self.mirror.job_record(job)
            except Exception:
                log.warning("mirroring job %s failed; the store spools it", job.id, exc_info=True)
        return True
