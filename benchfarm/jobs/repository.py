"""Where job records and their events live.

Decision: **Redis (append-only file, fsync on every write) is the system of
record for jobs and their events; Elasticsearch gets a copy for search and
dashboards.**  Why: the API may answer 202 only once the job is durable, and
job state changes must be atomic (a job id completes at most once even when
Celery delivers its message twice).  Redis gives both: an fsync'd write before
the reply and optimistic transactions for compare-and-set state changes, with
latency low enough for the submit path.  Elasticsearch is near-real-time and
has no multi-document transactions, so it holds the searchable mirror (jobs,
events and results indices), written through the store's spool so an outage
never loses a record.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any, Protocol

from benchfarm.errors import NotFoundError
from benchfarm.jobs.model import EventType, JobEvent, JobRecord, JobStatus, now


class KeyValueStore(Protocol):
    """The subset of Redis the repository needs (see benchfarm.adapters.redis_store.RedisKV)."""

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...
    def transact(self, key: str, mutate: Callable[[str | None], tuple[str | None, Any]]) -> Any: ...
    def zadd(self, key: str, member: str, score: float) -> None: ...
    def zrevrange(self, key: str, start: int, stop: int) -> list[str]: ...
    def mget(self, keys: list[str]) -> list[str | None]: ...
    def append_and_publish(self, list_key: str, channel: str, value: str) -> None: ...
    def lrange(self, key: str, start: int = 0, stop: int = -1) -> list[str]: ...
    def incr(self, key: str) -> int: ...
    def subscribe(self, channel: str, timeout: float = 1.0) -> Generator[str | None, None, None]: ...
    def wait_persisted(self) -> None: ...


EventListener = Callable[[JobEvent], None]


class JobRepository:
    """Durable job records with atomic state changes, and each job's event stream."""

    PREFIX = "benchfarm"

    def __init__(self, kv: KeyValueStore, listeners: list[EventListener] | None = None) -> None:
        self.kv = kv
        self.listeners = listeners or []

    # keys -----------------------------------------------------------------------
    def _job_key(self, job_id: str) -> str:
        return f"{self.PREFIX}:job:{job_id}"

    def _events_key(self, job_id: str) -> str:
        return f"{self.PREFIX}:job:{job_id}:events"

    def events_channel(self, job_id: str) -> str:
        return f"{self.PREFIX}:events:{job_id}"

    # records --------------------------------------------------------------------
    def create(self, job: JobRecord) -> JobRecord:
        """Store a new job durably (fsync'd) and index it for listing."""
        self.kv.set(self._job_key(job.id), job.model_dump_json())
        self.kv.zadd(f"{self.PREFIX}:jobs", job.id, job.submitted_at.timestamp())
        self.kv.wait_persisted()
        return job

    def get(self, job_id: str) -> JobRecord:
        raw = self.kv.get(self._job_key(job_id))
        if raw is None:
            raise NotFoundError(f"no job with id {job_id!r}", hint="list jobs with `benchfarm jobs list`")
        return JobRecord.model_validate_json(raw)

    def list(self, *, status: str | None = None, name: str | None = None, label: tuple[str, str] | None = None,
             limit: int = 50) -> list[JobRecord]:
        """Most recent first, filtered."""
        ids = self.kv.zrevrange(f"{self.PREFIX}:jobs", 0, max(limit * 10, 500) - 1)
        out: list[JobRecord] = []
        for raw in self.kv.mget([self._job_key(i) for i in ids]):
            if raw is None:
                continue
            job = JobRecord.model_validate_json(raw)
            if status and job.status.value != status:
                continue
            if name and job.name != name:
                continue
            if label and str(job.labels.get(label[0])) != label[1]:
                continue
            out.append(job)
            if len(out) >= limit:
                break
        return out

    def update(self, job_id: str, mutate: Callable[[JobRecord], Any]) -> tuple[JobRecord, Any]:
        """Apply ``mutate(job)`` atomically; it changes the record in place and may return a value.

        When ``mutate`` returns the sentinel ``NO_CHANGE``, nothing is written.
        """

        def _m(raw: str | None):
            if raw is None:
                raise NotFoundError(f"no job with id {job_id!r}")
            job = JobRecord.model_validate_json(raw)
            result = mutate(job)
            if result is NO_CHANGE:
                return None, (job, result)
            return job.model_dump_json(), (job, result)

        return self.kv.transact(self._job_key(job_id), _m)

    # state transitions ------------------------------------------------------------
    def claim(self, job_id: str, worker_id: str, host_id: str, lease_s: float, max_attempts: int) -> JobRecord | None:
        """Take a job to run it; None when it must not run (final, cancelled, or running elsewhere).

        This is what makes execution idempotent: a message delivered twice finds
        the job already final or leased by a live worker and is dropped.
        """

        def _m(job: JobRecord):
            if job.status.final:
                return NO_CHANGE
            if job.cancel_requested:
                job.status = JobStatus.CANCELLED
                job.reason = "cancelled before it started"
                job.finished_at = now()
                return "cancelled"
            if job.status == JobStatus.RUNNING and job.lease_until and job.lease_until > time.time():
                return NO_CHANGE
            if job.attempts >= max_attempts:
                job.status = JobStatus.FAILED
                job.reason = f"worker lost: gave up after {job.attempts} attempts"
                job.finished_at = now()
                return "gave-up"
            job.status = JobStatus.RUNNING
            job.attempts += 1
            job.worker_id = worker_id
            job.host_id = host_id
            job.started_at = now()
            job.lease_until = time.time() + lease_s
            job.repetitions = []  # a re-run starts over: partial runs of a lost attempt are not mixed in
            return "claimed"

        job, result = self.update(job_id, _m)
        if result == "claimed":
            self.emit(job_id, EventType.STARTED, {"host": host_id, "worker": worker_id, "attempt": job.attempts})
            return job
        if result == "cancelled":
            self.emit(job_id, EventType.CANCELLED, {"reason": job.reason})
        if result == "gave-up":
            self.emit(job_id, EventType.FAILED, {"reason": job.reason})
        return None

    def renew_lease(self, job_id: str, worker_id: str, lease_s: float) -> bool:
        """Extend a running job's lease; returns whether cancel was requested."""

        def _m(job: JobRecord):
            if job.worker_id == worker_id and job.status == JobStatus.RUNNING:
                job.lease_until = time.time() + lease_s
            return job.cancel_requested

        _, cancel = self.update(job_id, _m)
        return bool(cancel)

    # events -----------------------------------------------------------------------
    def emit(self, job_id: str, type_: EventType, data: dict[str, Any] | None = None) -> JobEvent:
        """Append an event to the job's stream and publish it to live listeners."""
        seq = self.kv.incr(f"{self._events_key(job_id)}:seq")
        event = JobEvent(job_id=job_id, seq=seq, type=type_, data=data or {})
        self.kv.append_and_publish(self._events_key(job_id), self.events_channel(job_id), event.model_dump_json())
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a mirror (e.g. Elasticsearch) must never break the job path
                import logging

                logging.getLogger(__name__).warning("event listener failed", exc_info=True)
        return event

    def events(self, job_id: str, after_seq: int = 0) -> builtins.list[JobEvent]:
        return [e for e in (JobEvent.model_validate_json(x) for x in self.kv.lrange(self._events_key(job_id)))
                if e.seq > after_seq]

    def follow(self, job_id: str, poll_s: float = 1.0) -> Iterator[JobEvent]:
        """Yield the job's events, past then live, until the job is final."""
        last = 0
        sub = self.kv.subscribe(self.events_channel(job_id), timeout=poll_s)
        next(sub, None)  # subscribe before reading history so nothing falls in between
        try:
            while True:
                for ev in self.events(job_id, after_seq=last):
                    last = ev.seq
                    yield ev
                if self.get(job_id).status.final:
                    for ev in self.events(job_id, after_seq=last):
                        last = ev.seq
                        yield ev
                    return
                next(sub, None)
        finally:
            sub.close()


class _NoChange:
    def __repr__(self) -> str:
        return "NO_CHANGE"


NO_CHANGE: Any = _NoChange()
