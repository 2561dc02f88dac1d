"""The worker process of a pool host: registers the host, consumes its queues, reaps lost jobs."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from functools import lru_cache

from benchfarm.jobs.model import EventType, JobRecord, JobStatus
from benchfarm.jobs.repository import NO_CHANGE, JobRepository
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.settings import Settings, get_settings
from benchfarm.worker.executor import ExecutorConfig, JobExecutor

log = logging.getLogger(__name__)


def local_capabilities(settings: Settings) -> HostCapabilities:
    """This host's capabilities, detected locally (Salt grains supply the same on a real farm)."""
    from benchfarm.inventory.hardware import detect_capabilities

    return detect_capabilities(
        settings.pool,
        host_id=settings.minion_id,
        allowed_devices=settings.allowed_devices,
        allowed_cap_add=settings.allowed_cap_add,
        max_concurrent_jobs=settings.max_concurrent_jobs,
    )


def build_repository(settings: Settings) -> JobRepository:
    from benchfarm.adapters.redis_store import RedisKV

    listeners = []
    try:
        from benchfarm.worker.publishing import event_mirror

        listeners.append(event_mirror(settings))
    except ImportError:
        pass
    return JobRepository(RedisKV.from_settings(settings), listeners=listeners)


@lru_cache(maxsize=1)
def current_executor() -> JobExecutor:
    """The executor of this worker process, built once from the settings."""
    from benchfarm.adapters.docker_engine import ContainerEngine

    settings = get_settings()
    telemetry = publisher = None
    try:
        from benchfarm.worker.publishing import result_publisher, telemetry_factory

        telemetry = telemetry_factory(settings)
        publisher = result_publisher(settings)
    except ImportError:
        pass
    return JobExecutor(
        build_repository(settings),
        ContainerEngine.from_settings(settings),
        local_capabilities(settings),
        ExecutorConfig(
            worker_id=f"{settings.minion_id}:{os.getpid()}",
            lock_dir=settings.state_dir / "locks",
            results_root=settings.state_dir / "results",
            lease_s=settings.worker_lease_s,
            max_attempts=settings.worker_max_attempts,
        ),
        telemetry=telemetry,
        publisher=publisher,
    )


def host_refusal() -> str | None:
    """Why this host must take no job now (its registry status is quarantined, maintenance...), or None."""
    from benchfarm.adapters.redis_store import RedisKV
    from benchfarm.errors import NotFoundError
    from benchfarm.scheduler.host_registry import HostRegistry
    from benchfarm.scheduler.matching import NOT_ELIGIBLE

    settings = get_settings()
    try:
        status = HostRegistry(RedisKV.from_settings(settings)).get(settings.minion_id).status
    except NotFoundError:
        return None
    return f"host {settings.minion_id} is {status}" if status in NOT_ELIGIBLE else None


class Reaper:
    """Finds jobs nobody is running any more and puts them right.

    - a ``running`` job whose lease expired (its worker died): its leftover
      container on this host is killed, then the job is queued again, or failed
      with reason "worker lost" once it used up its attempts;
    - a ``submitted`` job never handed to the broker (the broker was down at
      submit): it is queued now.
    So no job stays ``running`` forever and no accepted job is lost.
    """

    def __init__(self, repo: JobRepository, dispatcher, engine=None, max_attempts: int = 2,
                 submitted_grace_s: float = 30.0) -> None:
        self.repo = repo
        self.dispatcher = dispatcher
        self.engine = engine
        self.max_attempts = max_attempts
        self.submitted_grace_s = submitted_grace_s

    def sweep(self) -> list[str]:
        """One pass; returns the ids of the jobs it acted on."""
        acted = []
        for job in self.repo.list(limit=500):
            if job.status == JobStatus.RUNNING and job.lease_until and job.lease_until < time.time():
                self._kill_leftovers(job.id)
                if self._requeue_or_fail(job.id):
                    acted.append(job.id)
            elif job.status == JobStatus.SUBMITTED and time.time() - job.submitted_at.timestamp() > self.submitted_grace_s:
                self.dispatcher.enqueue(job.id, job.queue or "pool.default", job.priority)
                self.repo.update(job.id, lambda j: setattr(j, "status", JobStatus.QUEUED))
                self.repo.emit(job.id, EventType.QUEUED, {"queue": job.queue, "by": "reaper"})
                acted.append(job.id)
        return acted

    def _kill_leftovers(self, job_id: str) -> None:
        if self.engine is None:
            return
        from benchfarm.runner.container_spec import LABEL_JOB

        for c in self.engine.containers_with_label(LABEL_JOB, job_id):
            self.engine.remove(c["id"])

    def _requeue_or_fail(self, job_id: str) -> bool:
        def _m(job: JobRecord):
            if job.status != JobStatus.RUNNING or not job.lease_until or job.lease_until >= time.time():
                return NO_CHANGE
            job.lease_until = None
            if job.attempts >= self.max_attempts:
                job.status = JobStatus.FAILED
                job.reason = f"worker lost (after {job.attempts} attempts)"
                from benchfarm.jobs.model import now

                job.finished_at = now()
                return "failed"
            job.status = JobStatus.QUEUED
            job.reason = f"worker {job.worker_id} lost; queued again"
            return "requeued"

        job, what = self.repo.update(job_id, _m)
        if what == "failed":
            self.repo.emit(job_id, EventType.FAILED, {"reason": job.reason})
        elif what == "requeued":
            self.dispatcher.enqueue(job_id, job.queue or "pool.default", job.priority)
            self.repo.emit(job_id, EventType.REQUEUED, {"reason": job.reason, "attempts": job.attempts})
        return what is not NO_CHANGE


def _housekeeping(settings: Settings, caps: HostCapabilities, stop: threading.Event, every_s: float = 10.0) -> None:
    from benchfarm.adapters.celery_app import CeleryDispatcher
    from benchfarm.adapters.docker_engine import ContainerEngine
    from benchfarm.adapters.redis_store import RedisKV
    from benchfarm.scheduler.host_registry import HostRegistry

    registry = HostRegistry(RedisKV.from_settings(settings))
    reaper = Reaper(build_repository(settings), CeleryDispatcher(settings), ContainerEngine.from_settings(settings),
                    settings.worker_max_attempts)
    writer = None
    try:
        from benchfarm.store.writer import StoreWriter

        writer = StoreWriter.from_settings(settings)
    except ImportError:
        pass
    while not stop.wait(every_s):
        try:
            if writer is not None and writer.replay_spool():
                log.warning("replayed the Elasticsearch spool")
        except Exception:
            log.warning("spool replay failed", exc_info=True)
        try:
            registry.worker_heartbeat(caps.host_id)
            for job_id in reaper.sweep():
                log.warning("reaper acted on job %s", job_id)
        except Exception:
            log.warning("housekeeping pass failed", exc_info=True)


def _preload_job_path() -> None:
    """Import everything a job needs before any thread starts.

    Celery's prefork pool forks its children while this process's housekeeping
    thread may be importing a module; a child forked at that instant inherits a
    held import lock and deadlocks on its first job. Importing it all up front,
    single-threaded, means no import is ever in flight at a fork.
    """
    import importlib

    for name in ("benchfarm.worker.publishing", "benchfarm.store.writer", "benchfarm.store.sinks",
                 "benchfarm.store.documents", "benchfarm.adapters.elasticsearch", "benchfarm.adapters.docker_engine",
                 "benchfarm.adapters.redis_store", "benchfarm.collectors.sampler", "benchfarm.collectors.host",
                 "benchfarm.collectors.cgroup", "benchfarm.collectors.gpu", "benchfarm.collectors.fpga",
                 "benchfarm.spec.model", "benchfarm.spec.results", "benchfarm.spec.loader", "benchfarm.runner.runner",
                 "benchfarm.runner.container_spec", "benchfarm.runner.host_lock", "benchfarm.scheduler.matching",
                 "benchfarm.scheduler.host_registry", "benchfarm.inventory.hardware", "benchfarm.jobs.repository"):
        importlib.import_module(name)


def run_worker(settings: Settings, queues_override: list[str] | None = None) -> None:
    """Register this host and consume its capability queues until stopped (blocks)."""
    _preload_job_path()
    from benchfarm.adapters.celery_app import configure, start_worker
    from benchfarm.adapters.redis_store import RedisKV
    from benchfarm.scheduler.host_registry import HostRegistry
    from benchfarm.scheduler.queues import queues_for_host

    configure(settings)
    caps = local_capabilities(settings)
    registry = HostRegistry(RedisKV.from_settings(settings))
    existing = {h.host_id: h for h in registry.hosts()}
    if caps.host_id in existing and existing[caps.host_id].status != "good":
        caps.status = existing[caps.host_id].status  # a quarantine outlives a worker restart
    registry.register(caps)
    registry.worker_heartbeat(caps.host_id)
    queues = queues_override or queues_for_host(caps)
    log.warning("worker for host %s consuming %s", caps.host_id, ", ".join(queues))
    stop = threading.Event()
    threading.Thread(target=_housekeeping, args=(settings, caps, stop), daemon=True, name="housekeeping").start()
    try:
        # one process per host slot: with the default of one slot, the host lock
        # and a single process serialise benchmarks; large hosts opt in to more
        # (their jobs should pin disjoint cpusets)
        start_worker(queues, hostname=f"benchfarm@{caps.host_id or socket.gethostname()}",
                     concurrency=max(1, caps.max_concurrent_jobs))
    finally:
        stop.set()
