"""Submitting and cancelling jobs: validate, match a host, pin the image, store durably, queue."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from benchfarm.errors import UnsatisfiableJobError, UserInputError
from benchfarm.jobs.model import EventType, JobRecord, JobStatus, new_job_id, now
from benchfarm.jobs.repository import NO_CHANGE, JobRepository
from benchfarm.scheduler.host_registry import HostRegistry

#: Where a job that names no pool goes first.
DEFAULT_POOL = "default"


@dataclass
class _Batch:
    """What one submit looks up once for all its jobs: the hosts, their workers' heartbeats, images."""

    hosts: list[Any]
    seen: dict[str, float]
    images: dict[str, Any] = field(default_factory=dict)
    pull_refs: dict[str, str | None] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)
    # (matching hosts, chosen host, why none) by what matching reads of a spec: a burst's jobs mostly ask alike,
    # and matching is a pass over every host (bench/scale.py: 7 ms a job at 1,000 hosts without this)
    matches: dict[str, tuple[list[Any], Any, list[str]]] = field(default_factory=dict)


#: What matching reads of a job spec (``benchfarm.scheduler.matching.unmet``): jobs equal in these match alike.
MATCHED_FIELDS = {"requirements", "resources", "devices", "cap_add", "network"}

#: The most jobs one bulk submit takes (one transaction holds them all; a bigger burst is split by the client).
MAX_BULK_JOBS = 10_000


class Dispatcher(Protocol):
    def enqueue(self, job_id: str, queue: str, priority: int) -> str: ...

    def enqueue_many(self, jobs: list[tuple[str, str, int]]) -> None:
        """Queue ``(job_id, queue, priority)`` each, in as few broker writes as it can."""
        ...


class ImageResolver(Protocol):
    def resolve_image(self, ref: str) -> Any: ...


class ImagePublisher(Protocol):
    """Makes an image pullable by other hosts (``benchfarm.images.registry.RegistryPublisher`` fits)."""

    def pull_ref(self, ref: str, image: Any) -> str:
        """``<registry>/<name>@sha256:...`` of ``image``, pushed there when needed; raises RegistryError."""
        ...


class JobService:
    """The use cases behind `POST /jobs`, `DELETE /jobs/{id}` and the CLI.

    The image is resolved on this machine's engine (``images``). When a host other than
    this one (``local_host``) may run the job, ``publisher`` makes the image pullable from
    the farm registry and the job records that pull reference: a node or a remote host has
    only the registry to get it from.
    """

    def __init__(self, repo: JobRepository, hosts: HostRegistry, images: ImageResolver, dispatcher: Dispatcher,
                 *, publisher: ImagePublisher | None = None, local_host: str | None = None,
                 elastic_pools: Callable[[], Collection[str]] | None = None) -> None:
        self.repo = repo
        self.elastic_pools = elastic_pools
        self.hosts = hosts
        self.images = images
        self.dispatcher = dispatcher
        self.publisher = publisher
        self.local_host = local_host

    def submit(self, spec: Any, *, queue_anyway: bool = False, submitted_by: str | None = None,
               team: str | None = None, visibility: Literal["private", "public"] = "public") -> JobRecord:
        """Accept a validated JobSpec: durable before this returns, then queued.

        ``submitted_by``, ``team`` and ``visibility`` go into the record (who may see and cancel it).
        The record and its ``submitted`` and ``queued`` events are stored in one transaction, then
        the message is sent (:meth:`JobRepository.create_queued_many`: three fsync'd writes a job
        instead of seven; a message never sent is sent again by the reaper).

        Raises UnsatisfiableJobError when no registered host can run it (unless
        ``queue_anyway``), NotFoundError for an unknown image.
        """
        batch = _Batch(self.hosts.hosts(), self.hosts.workers_seen())
        planned = self._plan(spec, batch, queue_anyway=queue_anyway, submitted_by=submitted_by, team=team,
                             visibility=visibility)
        self._store_and_queue([planned])
        return planned[0]

    def submit_many(self, specs: list[Any], *, queue_anyway: bool = False, submitted_by: str | None = None,
                    team: str | None = None, visibility: Literal["private", "public"] = "public") -> list[JobRecord]:
        """Accept many validated JobSpecs at once (a CI burst): all durable before this returns, then queued.

        Each job is matched, pinned and recorded exactly as :meth:`submit` does, but the hosts,
        images and pull references are looked up once per batch, every record and its
        ``submitted``/``queued`` events are stored in one transaction and every message goes to
        the broker in one pipeline: three fsyncs for the batch instead of about seven per job.
        All or nothing: when one spec cannot run (or names an unknown image) nothing is stored.

        Raises:
            UserInputError: no specs, or more than :data:`MAX_BULK_JOBS`.
            UnsatisfiableJobError: a spec no registered host can run (unless ``queue_anyway``), naming it.
            NotFoundError: an unknown image.
            ServiceUnavailableError: the broker did not take the messages (the jobs are stored; the reaper
                sends them again).
        """
        if not specs or len(specs) > MAX_BULK_JOBS:
            raise UserInputError(f"a bulk submit takes 1 to {MAX_BULK_JOBS} jobs, not {len(specs)}",
                                 hint=f"split the burst into requests of at most {MAX_BULK_JOBS} jobs")
        batch = _Batch(self.hosts.hosts(), self.hosts.workers_seen())
        planned = [self._plan(spec, batch, queue_anyway=queue_anyway, submitted_by=submitted_by, team=team,
                              visibility=visibility, index=index, of=len(specs))
                   for index, spec in enumerate(specs)]
        self._store_and_queue(planned)
        return [job for job, _ in planned]

    def _plan(self, spec: Any, batch: _Batch, *, queue_anyway: bool, submitted_by: str | None, team: str | None,
              visibility: Literal["private", "public"], index: int | None = None, of: int = 1,
              ) -> tuple[JobRecord, dict[str, Any]]:
        """Match, pin the image and build the record of one job (and its ``submitted`` event's data)."""
        from benchfarm.scheduler.matching import match_hosts
        from benchfarm.scheduler.queues import queue_for_job

        key = json.dumps(spec.model_dump(mode="json", include=MATCHED_FIELDS), sort_keys=True)
        if key not in batch.matches:
            pool = spec.requirements.pool
            # a job naming a pool can only match that pool's hosts: check those (bench/scale.py: matching is 4 ms
            # a job over 1,000 hosts); when none of them fits, every host is checked, for the reasons
            match = match_hosts(spec, [h for h in batch.hosts if h.pool == pool]) if pool else None
            if match is None or not match.hosts:
                match = match_hosts(spec, batch.hosts)
            best = self._best_host(match.hosts, spec.requirements.pool, batch.seen)
            batch.matches[key] = (match.hosts, best, match.reasons)
        matched, best, reasons = batch.matches[key]
        if not matched and not queue_anyway and not self._elastic(spec):
            if index is None:
                raise UnsatisfiableJobError(
                    "no registered host can run this job: " + "; ".join(reasons),
                    hint="change the job's requirements, add a host that has them (or whose policy allows them), "
                         "or submit with --queue-anyway (a host still refuses what its policy does not allow)",
                )
            raise UnsatisfiableJobError(
                f"job {index} ({spec.name}) of the batch: no registered host can run it: "
                + "; ".join(reasons) + "; nothing of the batch was submitted",
                hint="change that job's requirements, add a host that has them, or submit with --queue-anyway")
        if spec.image not in batch.images:
            batch.images[spec.image] = self.images.resolve_image(spec.image)
        image = batch.images[spec.image]
        pull_ref = None
        if self.publisher is not None and self._may_run_elsewhere(matched):
            if spec.image not in batch.pull_refs:
                batch.pull_refs[spec.image] = self.publisher.pull_ref(spec.image, image)
            pull_ref = batch.pull_refs[spec.image]
        while (job_id := new_job_id()) in batch.ids:  # a second plus 32 random bits: unique within the batch
            pass
        batch.ids.add(job_id)
        job = JobRecord(
            id=job_id,
            spec=spec.model_dump(mode="json"),
            image_ref=spec.image,
            image_digest=image.id,
            image_pull_ref=pull_ref,
            image_provenance={"tags": image.tags, "repo_digests": image.repo_digests, "labels": image.labels,
                              "created": image.created},
            queue=queue_for_job(spec, best),
            labels=dict(spec.labels),
            priority=spec.priority,
            submitted_by=submitted_by,
            team=team,
            visibility=visibility,
        )
        submitted: dict[str, Any] = {"name": spec.name, "image": spec.image, "digest": image.id}
        if of > 1:
            submitted["bulk"] = of
        return job, submitted

    def _store_and_queue(self, planned: list[tuple[JobRecord, dict[str, Any]]]) -> None:
        """Store the jobs (queued, with both events) in one transaction, send their messages, confirm them sent."""
        self.repo.create_queued_many(planned)
        if len(planned) == 1:
            job = planned[0][0]
            self.dispatcher.enqueue(job.id, job.queue or "", job.priority)
        else:
            self.dispatcher.enqueue_many([(job.id, job.queue or "", job.priority) for job, _ in planned])
        self.repo.dispatched([job.id for job, _ in planned])

    def _elastic(self, spec: Any) -> bool:
        """Whether the job names an elastic pool: its hosts are made when jobs wait for them, so a job is
        queued although none exists yet (the autoscaler says why it waits). Only CPU jobs: an elastic
        pool's profile says nothing of accelerators."""
        req = spec.requirements
        return (self.elastic_pools is not None and bool(req.pool) and req.gpu is None and req.fpga is None
                and req.pool in self.elastic_pools())

    def _may_run_elsewhere(self, hosts: list[Any]) -> bool:
        """True when a host other than this machine may take the job (or no host is known yet)."""
        return not hosts or any(h.host_id != self.local_host for h in hosts)

    def _best_host(self, hosts: list[Any], pool: str | None = None, seen: dict[str, float] | None = None) -> Any:
        """The matching host whose queue the job goes to.

        A host with a live worker comes first: one known only from Salt grains (no
        worker heartbeat yet) still matches, but a job is not sent to its queue while
        a host with a running worker can take it. A job that names no pool prefers
        the ``default`` pool, so it does not land on whichever node sorts first
        (nodes join pools of their own); it goes elsewhere only when no live host of
        the default pool can run it.
        """
        if not hosts:
            return None
        if seen is None:
            seen = self.hosts.workers_seen()
        now = time.time()
        alive = [h for h in hosts if now - seen.get(h.host_id, 0.0) < self.hosts.stale_after_s]
        candidates = alive or hosts
        if not pool:
            candidates = [h for h in candidates if h.pool == DEFAULT_POOL] or candidates
        return candidates[0]

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a job: a queued one never starts; a running one's container is stopped by its worker."""

        def _m(job: JobRecord):
            if job.status.final:
                return NO_CHANGE
            job.cancel_requested = True
            if job.status in (JobStatus.SUBMITTED, JobStatus.QUEUED):
                job.status = JobStatus.CANCELLED
                job.reason = "cancelled before it started"
                job.finished_at = now()
                return "cancelled"
            return "requested"

        job, what = self.repo.update(job_id, _m)
        if what == "cancelled":
            self.repo.emit(job_id, EventType.CANCELLED, {"reason": job.reason})
        return job

    def wait(self, job_id: str, timeout_s: float, poll_s: float = 0.5) -> JobRecord:
        """Block until the job is final or the timeout passes; returns the record."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.repo.get(job_id)
            if job.status.final or time.monotonic() > deadline:
                return job
            time.sleep(poll_s)
