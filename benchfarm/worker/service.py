"""The worker process of a pool host: registers the host, consumes its queues, reaps lost jobs.

What it runs with (repository, executor, reaper, store writer) comes from the
composition root, one :class:`~benchfarm.composition.Farm` per process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from typing import Any

from benchfarm.composition import Farm
from benchfarm.scheduler.queues import queues_for_host
from benchfarm.settings import Settings, get_settings

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY_S = 10.0


def housekeeping_loop(host_id: str, parent_pid: int, every_s: float = HOUSEKEEPING_EVERY_S) -> None:
    """The worker's housekeeping, in a process of its own: heartbeat, reaper, spool replay, autoscaler,
    due schedules (benchfarm.schedules.loop: every worker is a scheduler, a Redis claim per fire time keeps
    each fire to one).

    It runs beside the Celery worker rather than as a thread inside it: Celery's
    prefork pool forks job processes from the worker at any time (a replacement
    after a crash, too), and a fork taken while another thread holds a lock (an
    import lock, a connection pool's) hands the child a lock nobody will release.
    It exits when the worker that started it is gone, so a dead worker never
    looks alive through its heartbeat.
    """
    farm = Farm(get_settings())
    signal.signal(signal.SIGTERM, _leave_on_sigterm)  # the worker stops it with SIGTERM: leave through `finally`
    registry, reaper, writer = farm.host_registry, farm.reaper, farm.store_writer
    scales = autoscales_here(farm.settings)
    try:
        while os.getppid() == parent_pid:
            if scales:
                try:
                    farm.autoscaler.run_once()
                except Exception:
                    log.warning("autoscaler pass failed", exc_info=True)
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
            if farm.settings.schedules_enabled:
                try:
                    for fire in farm.scheduler.tick():
                        log.warning("schedule %s fired for %s: %s", fire.schedule_id, fire.fire_at.isoformat(),
                                    fire.job_id or fire.error)
                except Exception:
                    log.warning("schedule tick failed", exc_info=True)
            time.sleep(every_s)
    finally:
        farm.close()  # the events the reaper emitted that the mirror still queues


def autoscales_here(settings: Settings) -> bool:
    """Whether this host's housekeeping runs the elastic pools' autoscaler: where salt-cloud's config is
    (``benchfarm stack up`` renders it beside the master's), unless settings turn it off. Every such host
    runs a pass; the autoscaler's lease lets one of them decide (``benchfarm.elastic.autoscaler``)."""
    from benchfarm.stack.salt_cloud import cloud_config_dir

    return settings.autoscaler and (cloud_config_dir(settings) / "cloud").is_file()


def _leave_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def run_worker(settings: Settings, queues_override: list[str] | None = None) -> None:
    """Register this host and consume its capability queues until stopped (blocks)."""
    from benchfarm.adapters.celery_app import configure, start_worker
    from benchfarm.worker import tasks

    farm = Farm(settings)
    configure(settings)
    caps = farm.capabilities
    registry = farm.host_registry
    existing = {h.host_id: h for h in registry.hosts()}
    if caps.host_id in existing and existing[caps.host_id].status != "good":
        caps.status = existing[caps.host_id].status  # a quarantine outlives a worker restart
    registry.register(caps)
    registry.worker_heartbeat(caps.host_id)
    queues = queues_override or queues_for_host(caps)
    log.warning("worker for host %s consuming %s (tasks: %s, %s)", caps.host_id, ", ".join(queues),
                tasks.run_job.name, tasks.ping.name)
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
        housekeeper.terminate()  # SIGTERM: it writes what it still holds for the store, then exits
        housekeeper.join(timeout=15)
