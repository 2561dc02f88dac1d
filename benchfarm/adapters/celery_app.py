"""Celery adapter: the only module that imports ``celery``.

Queues are named by capability (``pool.default``, ``gpu.nvidia-h100``...);
each worker consumes only the queues its host's capabilities allow.  Tasks are
acknowledged late and rejected (re-queued) when their worker process is lost;
the job repository's claim makes a second delivery harmless.

This adapter only makes the app and sends tasks; the tasks themselves live in
:mod:`benchfarm.worker.tasks`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery

from benchfarm.settings import Settings

TASK_RUN_JOB = "benchfarm.run_job"
TASK_PING = "benchfarm.ping"

app = Celery("benchfarm")

#: kombu's Redis transport keeps one list per priority step: ``<queue>`` for step 0, ``<queue>:<step>`` after
PRIORITY_STEPS = list(range(10))


def _tls(settings: Settings) -> dict[str, Any]:
    if not (settings.redis_ca_certs and settings.effective_redis_url.startswith("rediss:")):
        return {}
    import ssl

    options = {"ssl_ca_certs": str(settings.redis_ca_certs), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return {"broker_use_ssl": options, "redis_backend_use_ssl": options}


def configure(settings: Settings) -> Celery:
    """Point the Celery app at the farm's Redis and set the delivery guarantees."""
    url = settings.effective_redis_url
    app.conf.update(
        broker_url=url,
        result_backend=url,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # every write to the farm's Redis waits for an fsync (appendfsync always): the job record in the
        # repository says whether a job started and how it ended, so no task result, "started" state or
        # task event is written besides (bench/dispatch.py, issue 16); a caller that wants a result asks
        # for it per task (``ignore_result=False``)
        task_ignore_result=True,
        task_track_started=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        task_create_missing_queues=True,
        task_default_queue="pool.default",
        result_expires=7 * 24 * 3600,
        # an external Redis over TLS (rediss://): its CA bundle
        **_tls(settings),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            # a message whose worker vanished without a word comes back after this
            "visibility_timeout": settings.visibility_timeout_s,
            # ...at the next sweep of an idle worker: every unacked_restore_interval (10 s) with this, every 100 s
            # with kombu's default throttle of 10 (seen: a job back 195 s after its worker died, not 120-130 s)
            "unacked_restore_throttle": 1,
            # Redis has no native priorities: kombu keeps one list per step (0 = first served)
            "priority_steps": PRIORITY_STEPS,
            "sep": ":",
            "queue_order_strategy": "priority",
        },
        worker_hijack_root_logger=False,
    )
    return app


def queue_depths(list_lengths: Callable[[list[str]], list[int]], queues: list[str]) -> dict[str, int]:
    """Messages waiting in each of ``queues`` (every priority step's list summed; taken ones are not counted).

    Args:
        list_lengths: LLEN of each key, in one round trip (``RedisKV.list_lengths``).
        queues: Celery queue names.
    """
    keys = [[q if step == 0 else f"{q}:{step}" for step in PRIORITY_STEPS] for q in queues]
    lengths = list_lengths([k for per_queue in keys for k in per_queue])
    n = len(PRIORITY_STEPS)
    return {q: sum(lengths[i * n:(i + 1) * n]) for i, q in enumerate(queues)}


class CeleryDispatcher:
    """Sends jobs to capability queues."""

    def __init__(self, settings: Settings) -> None:
        configure(settings)

    def enqueue(self, job_id: str, queue: str, priority: int) -> str:
        """Queue the job; spec priority 9 is served first. Returns the Celery task id."""
        from kombu.exceptions import OperationalError

        from benchfarm.errors import ServiceUnavailableError

        try:
            # ignore_result: nothing reads a run_job result, and asking for one subscribes to (then leaves) its
            # result channel, two more round trips a job (bench/bulk_submit.py profile, issue 16)
            result = app.send_task(TASK_RUN_JOB, args=[job_id], queue=queue, priority=9 - max(0, min(9, priority)),
                                   task_id=f"{job_id}", ignore_result=True)
        except OperationalError as exc:
            raise ServiceUnavailableError("cannot reach the Celery broker (Redis)",
                                          hint="check `benchfarm stack status`") from exc
        return result.id

    def waiting(self, queues: list[str]) -> set[str]:
        """Ids of the jobs with a message in one of ``queues`` (every priority step's list) or taken by a worker
        and not acknowledged yet (kombu's ``unacked`` hash, whatever the queue); reads every such message.

        Raises:
            ServiceUnavailableError: the broker (Redis) does not answer.
        """
        import json

        from kombu.exceptions import OperationalError
        from redis.exceptions import RedisError

        from benchfarm.errors import ServiceUnavailableError

        keys = [q if step == 0 else f"{q}:{step}" for q in queues for step in PRIORITY_STEPS]
        try:
            with app.connection_for_read() as conn:
                client = conn.default_channel.client  # type: ignore[attr-defined]  # the Redis channel
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.lrange(key, 0, -1)
                raws = [m for found in pipe.execute() for m in found] + list(client.hvals("unacked"))
        except (OperationalError, RedisError, ConnectionError) as exc:
            raise ServiceUnavailableError("cannot read the Celery broker's queues (Redis)",
                                          hint="check `benchfarm stack status`") from exc
        ids: set[str] = set()
        for raw in raws:
            try:
                data = json.loads(raw)
                message = data[0] if isinstance(data, list) else data  # unacked: [message, exchange, routing key]
                ids.add(str(message["headers"]["id"]))
            except (ValueError, KeyError, TypeError, IndexError):
                continue
        return ids

    def enqueue_many(self, jobs: list[tuple[str, str, int]]) -> None:
        """Queue many jobs (``(job_id, queue, priority)`` each) in one Redis pipeline.

        Under ``appendfsync always`` each LPUSH sent alone waits for its own fsync; kombu's
        publish batch buffers the messages' LPUSHes and sends them in one non-transactional
        pipeline, which Redis fsyncs once per event-loop pass instead of once per message.

        Raises:
            ServiceUnavailableError: the broker refused or dropped the batch; some messages may be
                queued, the job repository's dispatching index says which jobs to send again.
        """
        from kombu.exceptions import KombuError, OperationalError

        from benchfarm.errors import ServiceUnavailableError

        try:
            with app.producer_or_acquire() as producer, producer.batch(max_size=max(1, len(jobs))):
                for job_id, queue, priority in jobs:
                    app.send_task(TASK_RUN_JOB, args=[job_id], queue=queue, task_id=job_id, producer=producer,
                                  priority=9 - max(0, min(9, priority)), ignore_result=True)
        except (OperationalError, KombuError, ConnectionError) as exc:
            raise ServiceUnavailableError(f"the Celery broker (Redis) did not take a batch of {len(jobs)} jobs",
                                          hint="they are stored: the reaper sends them again within a minute; "
                                               "check `benchfarm stack status`") from exc


def on_process_exit(callback: Callable[[], None]) -> None:
    """Call ``callback`` as each worker process exits: every prefork pool process (Celery's
    ``worker_process_shutdown``, sent before the pool process ends with ``os._exit``, which skips
    ``atexit``) and the main worker process (``worker_shutdown``). Connect before the pool forks."""
    from celery.signals import worker_process_shutdown, worker_shutdown

    def run_callback(**_: Any) -> None:
        callback()

    worker_process_shutdown.connect(run_callback, weak=False)
    worker_shutdown.connect(run_callback, weak=False)


def start_worker(queues: list[str], hostname: str, concurrency: int = 1, loglevel: str = "INFO") -> None:
    """Run a Celery worker in this process consuming ``queues`` (blocks)."""
    app.worker_main([
        "worker", "-Q", ",".join(queues), "-n", hostname, "-c", str(concurrency),
        f"--loglevel={loglevel}", "--without-gossip", "--without-mingle",
    ])


def dispatch_round_trip(count: int, queue: str = "pool.default", timeout_s: float = 120.0) -> float:
    """Send ``count`` no-op tasks and wait for all their results; returns the seconds it took."""
    import time

    start = time.perf_counter()
    results = [app.send_task(TASK_PING, args=[i], queue=queue, ignore_result=False) for i in range(count)]
    for r in results:
        r.get(timeout=timeout_s)
    return time.perf_counter() - start
