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

Fencing: a claim makes an attempt (the job's ``attempts`` counter, bumped under the
compare-and-set, with the claiming worker's id) and hands the worker a :class:`Lease`,
its fencing token. Every write the worker makes after that goes through
:meth:`JobRepository.update_fenced`, which refuses it (``LeaseLostError``) as soon as the
record shows another owner: the job queued again by the reaper, claimed by a later
attempt, failed from a container event, or finished. A worker paused past its lease
thus never overwrites what happened meanwhile, as with etcd or ZooKeeper leases.

Indexes: beside the listing of every job (newest first), two sorted sets name the jobs
that may need the reaper: running jobs scored by lease expiry, and submitted (not yet
queued) jobs scored by submission time. They are derived from the record and written
in the same transaction as the record, so a sweep reads only the jobs that are due,
however long the history.
"""

from __future__ import annotations

import builtins
import logging
import math
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from benchfarm.clock import SYSTEM_CLOCK, Clock
from benchfarm.errors import LeaseLostError, NotFoundError
from benchfarm.jobs.model import EventType, JobEvent, JobRecord, JobStatus

log = logging.getLogger(__name__)

ZChange = tuple[str, str, float | None]
"""One change to a sorted set: (key, member, score); a score of None removes the member."""


class KeyValueStore(Protocol):
    """The subset of Redis the repository needs (see benchfarm.adapters.redis_store.RedisKV)."""

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...
    def transact(self, key: str, mutate: Callable[[str | None], tuple[str | None, Any]]) -> Any: ...
    def transact_indexed(self, key: str,
                         mutate: Callable[[str | None], tuple[str | None, list[ZChange], Any]]) -> Any: ...
    def transact_logged(self, key: str, seq_key: str,
                        mutate: Callable[[str | None, int], tuple[str | None, list[ZChange], list[tuple[str, str, str]],
                                                                   int | None, Any]]) -> Any: ...
    def zrange_by_score(self, key: str, max_score: float, limit: int) -> list[str]: ...
    def zadd(self, key: str, member: str, score: float) -> None: ...
    def zrem(self, key: str, members: list[str]) -> None: ...
    def write_batch(self, sets: dict[str, str], changes: list[ZChange],
                    appends: list[tuple[str, str, str]]) -> None: ...
    def zrevrange(self, key: str, start: int, stop: int) -> list[str]: ...
    def mget(self, keys: list[str]) -> list[str | None]: ...
    def append_and_publish(self, list_key: str, channel: str, value: str) -> None: ...
    def lrange(self, key: str, start: int = 0, stop: int = -1) -> list[str]: ...
    def incr(self, key: str) -> int: ...
    def subscribe(self, channel: str, timeout: float = 1.0) -> Generator[str | None, None, None]: ...
    def wait_persisted(self) -> None: ...


EventListener = Callable[[JobEvent], None]
EventFor = Callable[[JobRecord, Any], "tuple[EventType, dict[str, Any]] | None"]
"""The event a change of a job makes: ``(type, data)`` from the changed record and the mutation's result."""


@dataclass(frozen=True)
class Lease:
    """One attempt's claim on a job, its fencing token: the attempt number and the worker that claimed it.

    The attempt number grows by one at every claim (under the compare-and-set), so a
    lease is current exactly while the job is ``running`` under that attempt and worker.
    """

    job_id: str
    worker_id: str
    attempt: int

    @classmethod
    def of(cls, job: JobRecord) -> Lease:
        """The lease a claim just granted on ``job``."""
        return cls(job.id, job.worker_id or "", job.attempts)

    def holds(self, job: JobRecord) -> bool:
        """True while ``job`` is still running under this attempt."""
        return job.status == JobStatus.RUNNING and job.attempts == self.attempt and job.worker_id == self.worker_id

    def lost(self, job: JobRecord, why: str | None = None) -> LeaseLostError:
        """The error saying who has the job now."""
        if why is None:
            now_held = (f"attempt {job.attempts} of worker {job.worker_id} holds it"
                        if job.status == JobStatus.RUNNING else f"it is {job.status.value} now")
            why = now_held + (f" ({job.reason})" if job.reason else "")
        return LeaseLostError(f"job {self.job_id}: attempt {self.attempt} of worker {self.worker_id} lost its "
                              f"lease: {why}",
                              hint="nothing to do: the job's current owner (or the reaper) carries on with it")


class JobRepository:
    """Durable job records with atomic state changes, and each job's event stream.

    Args:
        kv: the key-value store (Redis through its adapter, or an in-memory one in tests).
        listeners: called with every event emitted (the Elasticsearch mirror); their errors are logged.
        clock: where lease times and timestamps are read (default: the system clock).
    """

    PREFIX = "benchfarm"

    def __init__(self, kv: KeyValueStore, listeners: list[EventListener] | None = None, *,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.kv = kv
        self.listeners = listeners or []
        self.clock = clock

    # keys -----------------------------------------------------------------------
    def _job_key(self, job_id: str) -> str:
        return f"{self.PREFIX}:job:{job_id}"

    def _events_key(self, job_id: str) -> str:
        return f"{self.PREFIX}:job:{job_id}:events"

    def events_channel(self, job_id: str) -> str:
        return f"{self.PREFIX}:events:{job_id}"

    @property
    def leases_key(self) -> str:
        """The sorted set of running jobs, scored by lease expiry (epoch seconds)."""
        return f"{self.PREFIX}:jobs:leases"

    @property
    def submitted_key(self) -> str:
        """The sorted set of submitted, not yet queued jobs, scored by submission time."""
        return f"{self.PREFIX}:jobs:submitted"

    @property
    def queued_key(self) -> str:
        """The sorted set of queued jobs, scored by submission time: the reaper looks there for jobs whose broker
        message was lost (taken by a worker that died before it was recorded as taken)."""
        return f"{self.PREFIX}:jobs:queued"

    @property
    def dispatching_key(self) -> str:
        """The sorted set of bulk-submitted jobs not yet confirmed on the broker, scored by submission time."""
        return f"{self.PREFIX}:jobs:dispatching"

    def _index_changes(self, job_id: str, job: JobRecord | None) -> list[ZChange]:
        """The index entries ``job`` should have (None: the job is gone, so none)."""
        lease = job.lease_until if job is not None and job.status == JobStatus.RUNNING else None
        submitted = (job.submitted_at.timestamp() if job is not None and job.status == JobStatus.SUBMITTED
                     else None)
        queued = job.submitted_at.timestamp() if job is not None and job.status == JobStatus.QUEUED else None
        return [(self.leases_key, job_id, lease), (self.submitted_key, job_id, submitted),
                (self.queued_key, job_id, queued)]

    # records --------------------------------------------------------------------
    def create(self, job: JobRecord) -> JobRecord:
        """Store a new job durably (fsync'd), with its listing and reaper index entries in the same write."""

        def store_new(_old: str | None) -> tuple[str, list[ZChange], None]:
            listing: ZChange = (f"{self.PREFIX}:jobs", job.id, job.submitted_at.timestamp())
            return job.model_dump_json(), [listing, *self._index_changes(job.id, job)], None

        self.kv.transact_indexed(self._job_key(job.id), store_new)
        self.kv.wait_persisted()
        return job

    def create_queued_many(self, jobs: builtins.list[tuple[JobRecord, dict[str, Any]]]) -> None:
        """Store many new jobs as ``queued`` with their ``submitted`` and ``queued`` events, in one transaction.

        ``jobs`` are ``(record, data of its submitted event)``. One MULTI/EXEC (one fsync under
        ``appendfsync always``) stores every record, its listing entry, its two events and an
        entry in the dispatching index; the caller sends the broker messages next and then
        calls :meth:`dispatched`. Whatever is still in that index after a grace period (the
        API died, or the broker refused between the two writes) is sent again by the reaper
        (:meth:`undispatched_before`), so an accepted job is never lost; a message sent twice
        is dropped by the claim. Why not ``submitted`` first, as :meth:`create` does: marking
        N jobs ``queued`` afterwards is a compare-and-set over N keys, which workers claiming
        the first of them keep invalidating.
        """
        sets: dict[str, str] = {}
        changes: list[ZChange] = []
        appends: list[tuple[str, str, str]] = []
        emitted: list[JobEvent] = []
        for job, submitted in jobs:
            job.status = JobStatus.QUEUED
            score = job.submitted_at.timestamp()
            sets[self._job_key(job.id)] = job.model_dump_json()
            sets[f"{self._events_key(job.id)}:seq"] = "2"
            changes += [(f"{self.PREFIX}:jobs", job.id, score), (self.dispatching_key, job.id, score),
                        *self._index_changes(job.id, job)]
            events = [JobEvent(job_id=job.id, seq=1, type=EventType.SUBMITTED, data=submitted, at=job.submitted_at),
                      JobEvent(job_id=job.id, seq=2, type=EventType.QUEUED, data={"queue": job.queue},
                               at=job.submitted_at)]
            appends += [(self._events_key(job.id), self.events_channel(job.id), e.model_dump_json()) for e in events]
            emitted += events
        self.kv.write_batch(sets, [c for c in changes if c[2] is not None], appends)  # new jobs: no removals
        self.kv.wait_persisted()
        for event in emitted:
            self._notify(event)

    def dispatched(self, job_ids: builtins.list[str]) -> None:
        """The broker holds these jobs' messages: take them out of the dispatching index."""
        self.kv.zrem(self.dispatching_key, job_ids)

    def undispatched_before(self, at: float, limit: int = 500) -> builtins.list[JobRecord]:
        """Bulk-submitted jobs whose messages were never confirmed sent, stored before ``at``, oldest first.

        Only those still ``queued`` are returned (one a worker took or a user cancelled needs no
        message); the others leave the index here.
        """
        ids = self.kv.zrange_by_score(self.dispatching_key, at, limit)
        due: builtins.list[JobRecord] = []
        moved_on: builtins.list[str] = []
        for job_id, raw in zip(ids, self.kv.mget([self._job_key(i) for i in ids]), strict=True):
            job = JobRecord.model_validate_json(raw) if raw is not None else None
            if job is not None and job.status == JobStatus.QUEUED:
                due.append(job)
            else:
                moved_on.append(job_id)
        self.dispatched(moved_on)
        return due

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

    def page(self, offset: int, limit: int, *, keep: Callable[[JobRecord], bool] | None = None,
             scan_limit: int = 5000) -> tuple[builtins.list[JobRecord], bool]:
        """One page of jobs, most recent first: ``(jobs, more)``, ``more`` when a later page has some.

        Without ``keep``, this reads only the page's ids from the listing (``ZREVRANGE`` by rank) and
        their records, so page 200 of 10,000 jobs costs what page 1 does. With ``keep`` (a status
        filter, what a caller may see), the listing is read in chunks from the newest until the page
        is full or ``scan_limit`` jobs were looked at (``more`` is then True: the scan stopped short).
        """
        if keep is None:
            ids = self.kv.zrevrange(f"{self.PREFIX}:jobs", offset, offset + limit)  # one extra: is there more?
            jobs = [JobRecord.model_validate_json(raw) for raw in self.kv.mget([self._job_key(i) for i in ids])
                    if raw is not None]
            return jobs[:limit], len(ids) > limit
        matched: builtins.list[JobRecord] = []
        start, chunk = 0, 500
        while start < scan_limit:
            ids = self.kv.zrevrange(f"{self.PREFIX}:jobs", start, start + chunk - 1)
            for raw in self.kv.mget([self._job_key(i) for i in ids]):
                if raw is None:
                    continue
                job = JobRecord.model_validate_json(raw)
                if keep(job):
                    matched.append(job)
                    if len(matched) > offset + limit:
                        return matched[offset:offset + limit], True
            if len(ids) < chunk:
                return matched[offset:offset + limit], False
            start += chunk
        return matched[offset:offset + limit], True

    def running(self, limit: int = 1000) -> builtins.list[JobRecord]:
        """The jobs running now (from the index of running jobs, not a scan of the history)."""
        return self._due(self.leases_key, math.inf, limit, lambda j: j.status == JobStatus.RUNNING)

    def update(self, job_id: str, mutate: Callable[[JobRecord], Any],
               event: EventFor | None = None) -> tuple[JobRecord, Any]:
        """Apply ``mutate(job)`` atomically (compare-and-set); it changes the record in place and may return a value.

        When ``mutate`` returns the sentinel ``NO_CHANGE``, nothing is written. The reaper's
        indexes follow the record in the same transaction. Whatever ``mutate`` raises
        propagates and nothing is written. ``event(job, result)``, when given, names the event
        the change makes (``(type, data)``, or None for none): it is appended to the job's
        stream in the same transaction (one fsync'd write where :meth:`emit` after the change
        makes three), then handed to the listeners.

        Raises:
            NotFoundError: no job has that id.
        """
        if event is not None:
            return self._update_logged(job_id, mutate, event)

        def apply_mutation(raw: str | None) -> tuple[str | None, list[ZChange], tuple[JobRecord, Any]]:
            if raw is None:
                raise NotFoundError(f"no job with id {job_id!r}")
            job = JobRecord.model_validate_json(raw)
            result = mutate(job)
            if result is NO_CHANGE:
                return None, [], (job, result)
            return job.model_dump_json(), self._index_changes(job_id, job), (job, result)

        return self.kv.transact_indexed(self._job_key(job_id), apply_mutation)

    def _update_logged(self, job_id: str, mutate: Callable[[JobRecord], Any],
                       event: EventFor) -> tuple[JobRecord, Any]:
        def apply_mutation(raw: str | None, seq: int) -> tuple[str | None, list[ZChange], list[tuple[str, str, str]],
                                                               int | None, tuple[JobRecord, Any, JobEvent | None]]:
            if raw is None:
                raise NotFoundError(f"no job with id {job_id!r}")
            job = JobRecord.model_validate_json(raw)
            result = mutate(job)
            if result is NO_CHANGE:
                return None, [], [], None, (job, result, None)
            named = event(job, result)
            if named is None:
                return job.model_dump_json(), self._index_changes(job_id, job), [], None, (job, result, None)
            made = JobEvent(job_id=job_id, seq=seq + 1, type=named[0], data=named[1])
            append = (self._events_key(job_id), self.events_channel(job_id), made.model_dump_json())
            return job.model_dump_json(), self._index_changes(job_id, job), [append], seq + 1, (job, result, made)

        job, result, made = self.kv.transact_logged(self._job_key(job_id), f"{self._events_key(job_id)}:seq",
                                                    apply_mutation)
        if made is not None:
            self._notify(made)
        return job, result

    def update_fenced(self, lease: Lease, mutate: Callable[[JobRecord], Any],
                      event: EventFor | None = None) -> tuple[JobRecord, Any]:
        """:meth:`update`, done only while ``lease`` is current: the write every worker makes after its claim.

        Raises:
            LeaseLostError: the job is no longer running under this attempt; nothing was written.
            NotFoundError: no job has that id.
        """

        def if_lease_holds(job: JobRecord) -> Any:
            if not lease.holds(job):
                raise lease.lost(job)
            return mutate(job)

        return self.update(lease.job_id, if_lease_holds, event)

    def reindex(self, job_id: str) -> None:
        """Rewrite the job's reaper index entries from its record (drops them when the job is gone)."""

        def entries_from_record(raw: str | None) -> tuple[None, list[ZChange], None]:
            job = JobRecord.model_validate_json(raw) if raw is not None else None
            return None, self._index_changes(job_id, job), None

        self.kv.transact_indexed(self._job_key(job_id), entries_from_record)

    def ensure_indexes(self, page: int = 500) -> int:
        """Index the unfinished jobs of a store written before the reaper's indexes existed (once per store).

        Returns how many jobs it looked at (0 when the store was indexed already).
        """
        marker = f"{self.PREFIX}:jobs:indexed:2"  # 2: with the index of queued jobs
        if self.kv.get(marker):
            return 0
        seen, start = 0, 0
        while ids := self.kv.zrevrange(f"{self.PREFIX}:jobs", start, start + page - 1):
            for job_id, raw in zip(ids, self.kv.mget([self._job_key(i) for i in ids]), strict=True):
                if raw is not None and not JobRecord.model_validate_json(raw).status.final:
                    self.reindex(job_id)
            seen += len(ids)
            start += page
        self.kv.set(marker, "1")
        return seen

    def _due(self, index: str, max_score: float, limit: int,
             still_due: Callable[[JobRecord], bool]) -> builtins.list[JobRecord]:
        ids = self.kv.zrange_by_score(index, max_score, limit)
        due: builtins.list[JobRecord] = []
        for job_id, raw in zip(ids, self.kv.mget([self._job_key(i) for i in ids]), strict=True):
            job = JobRecord.model_validate_json(raw) if raw is not None else None
            if job is not None and still_due(job):
                due.append(job)
            else:  # an entry the record moved past (written by a backfill racing a change): put it right
                self.reindex(job_id)
        return due

    def expired_leases(self, at: float, limit: int = 500) -> builtins.list[JobRecord]:
        """Running jobs whose lease expired before ``at`` (epoch seconds), soonest expired first.

        Reads only the index of running jobs: the work is in proportion to the jobs due.
        """
        return self._due(self.leases_key, at, limit,
                         lambda j: j.status == JobStatus.RUNNING and j.lease_until is not None and j.lease_until < at)

    def queued_before(self, at: float, limit: int = 500) -> builtins.list[JobRecord]:
        """Jobs ``queued`` that were submitted before ``at``, oldest first."""
        return self._due(self.queued_key, at, limit,
                         lambda j: j.status == JobStatus.QUEUED and j.submitted_at.timestamp() < at)

    def submitted_before(self, at: float, limit: int = 500) -> builtins.list[JobRecord]:
        """Jobs still ``submitted`` (never queued) that were submitted before ``at``, oldest first."""
        return self._due(self.submitted_key, at, limit,
                         lambda j: j.status == JobStatus.SUBMITTED and j.submitted_at.timestamp() < at)

    # state transitions ------------------------------------------------------------
    def claim(self, job_id: str, worker_id: str, host_id: str, lease_s: float, max_attempts: int) -> JobRecord | None:
        """Take a job to run it; None when it must not run (final, cancelled, or running elsewhere).

        This is what makes execution idempotent: a message delivered twice finds
        the job already final or leased by a live worker and is dropped. The
        returned record's :meth:`Lease.of` is the attempt's fencing token.
        """

        def take_if_free(job: JobRecord) -> Any:
            at = self.clock.now()
            if job.status.final:
                return NO_CHANGE
            if job.cancel_requested:
                job.status = JobStatus.CANCELLED
                job.reason = "cancelled before it started"
                job.finished_at = self.clock.utcnow()
                job.lease_until = None
                return "cancelled"
            if job.status == JobStatus.RUNNING and job.lease_until and job.lease_until > at:
                return NO_CHANGE
            if job.attempts >= max_attempts:
                job.status = JobStatus.FAILED
                job.reason = f"worker lost: gave up after {job.attempts} attempts"
                job.finished_at = self.clock.utcnow()
                job.lease_until = None
                return "gave-up"
            job.status = JobStatus.RUNNING
            job.attempts += 1  # the new attempt's fencing token: every earlier lease is stale from here on
            job.worker_id = worker_id
            job.host_id = host_id
            job.started_at = self.clock.utcnow()
            job.lease_until = at + lease_s
            job.repetitions = []  # a re-run starts over: partial runs of a lost attempt are not mixed in
            return "claimed"

        def event_of(job: JobRecord, result: Any) -> tuple[EventType, dict[str, Any]] | None:
            if result == "claimed":
                return EventType.STARTED, {"host": host_id, "worker": worker_id, "attempt": job.attempts}
            if result == "cancelled":
                return EventType.CANCELLED, {"reason": job.reason}
            if result == "gave-up":
                return EventType.FAILED, {"reason": job.reason}
            return None

        job, result = self.update(job_id, take_if_free, event_of)
        return job if result == "claimed" else None

    def renew_lease(self, lease: Lease, lease_s: float) -> bool:
        """Extend the attempt's lease by ``lease_s`` from now; returns whether cancel was requested.

        A lease that ran out is not renewed even when nobody took the job yet: the reaper
        or a container event may be acting on it already.

        Raises:
            LeaseLostError: the attempt no longer holds the job, or its lease expired.
        """

        def extend_lease(job: JobRecord) -> bool:
            at = self.clock.now()
            if not lease.holds(job):
                raise lease.lost(job)
            if job.lease_until is not None and job.lease_until < at:
                raise lease.lost(job, f"it expired {at - job.lease_until:.1f} s ago")
            job.lease_until = at + lease_s
            return job.cancel_requested

        _, cancel = self.update(lease.job_id, extend_lease)
        return bool(cancel)

    def count_store_outcome(self, job_id: str, *, spooled: int = 0, dead_lettered: int = 0) -> None:
        """Add to the job's counts of documents the store spooled or dead-lettered (a job unknown here is skipped).

        Not an attempt's write: an increment under compare-and-set, so it never undoes
        anyone's change, and it is counted whoever holds the job (or after it finished).
        """

        def add_counts(job: JobRecord) -> None:
            job.store_spooled += spooled
            job.store_dead_lettered += dead_lettered

        try:
            self.update(job_id, add_counts)
        except NotFoundError:
            log.debug("store outcome for unknown job %s not recorded", job_id)

    # events -----------------------------------------------------------------------
    def emit(self, job_id: str, type_: EventType, data: dict[str, Any] | None = None) -> JobEvent:
        """Append an event to the job's stream and publish it to live listeners."""
        seq = self.kv.incr(f"{self._events_key(job_id)}:seq")
        event = JobEvent(job_id=job_id, seq=seq, type=type_, data=data or {})
        self.kv.append_and_publish(self._events_key(job_id), self.events_channel(job_id), event.model_dump_json())
        self._notify(event)
        return event

    def _notify(self, event: JobEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a mirror (e.g. Elasticsearch) must never break the job path
                log.warning("event listener failed", exc_info=True)

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
