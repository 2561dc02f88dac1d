"""The worker process of a pool host: registers the host, consumes its queues, reaps lost jobs."""

from __future__ import annotations

import logging
import os
import socket
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

    from benchfarm.worker.publishing import event_mirror

    return JobRepository(RedisKV.from_settings(settings), listeners=[event_mirror(settings)])


@lru_cache(maxsize=1)
def current_executor() -> JobExecutor:
    """The executor of this worker process, built once from the settings."""
    from benchfarm.adapters.docker_engine import ContainerEngine

    from benchfarm.worker.publishing import result_publisher, telemetry_factory

    settings = get_settings()
    caps = local_capabilities(settings)
    return JobExecutor(
        build_repository(settings),
        ContainerEngine.from_settings(settings),
        caps,
        ExecutorConfig(
            worker_id=f"{settings.minion_id}:{os.getpid()}",
            lock_dir=settings.state_dir / "locks",
            results_root=settings.state_dir / "results",
            lease_s=settings.worker_lease_s,
            max_attempts=settings.worker_max_attempts,
        ),
        telemetry=telemetry_factory(settings),
        publisher=result_publisher(settings, caps),
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


def housekeeping_loop(host_id: str, parent_pid: int, every_s: float = 10.0) -> None:
    """The worker's housekeeping, in a process of its own: heartbeat, reaper, spool replay.

    It runs beside the Celery worker rather than as a thread inside it: Celery's
    prefork pool forks job processes from the worker at any time (a replacement
    after a crash, too), and a fork taken while another thread holds a lock (an
    import lock, a connection pool's) hands the child a lock nobody will release.
    It exits when the worker that started it is gone, so a dead worker never
    looks alive through its heartbeat.
    """
    from benchfarm.adapters.celery_app import CeleryDispatcher
    from benchfarm.adapters.docker_engine import ContainerEngine
    from benchfarm.adapters.redis_store import RedisKV
    from benchfarm.scheduler.host_registry import HostRegistry
    from benchfarm.worker.publishing import store_writer

    settings = get_settings()
    registry = HostRegistry(RedisKV.from_settings(settings))
    reaper = Reaper(build_repository(settings), CeleryDispatcher(settings), ContainerEngine.from_settings(settings),
                    settings.worker_max_attempts)
    writer = store_writer(settings)
    while os.getppid() == parent_pid:
        try:
            if writer.replay_spool():
                log.warning("replayed the Elasticsearch spool")
        except Exception:
            log.warning("spool replay failed", exc_info=True)
        try:
            registry.worker_heartbeat(host_id)
            for job_id in reaper.sweep():
                log.warning("reaper acted on job %s", job_id)
        except Exception:
            log.warning("housekeeping pass failed", exc_info=True)
        time.sleep(every_s)


def run_worker(settings: Settings, queues_override: list[str] | None = None) -> None:
    """Register this host and consume its capability queues until stopped (blocks)."""
    import multiprocessing
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
    housekeeper = multiprocessing.get_context("spawn").Process(
        target=housekeeping_loop, args=(caps.host_id, os.getpid()), name="benchfarm-housekeeping", daemon=True)
    housekeeper.start()
    try:
        # one process per host slot: with the default of one slot, the host lock
        # and a single process serialise benchmarks; large hosts opt in to more
        # (their jobs should pin disjoint cpusets)
        start_worker(queues, hostname=f"benchfarm@{caps.host_id or socket.gethostname()}",
                     concurrency=max(1, caps.max_concurrent_jobs))
    finally:
        housekeeper.terminate()
