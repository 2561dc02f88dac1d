"""The Celery tasks a pool host's worker runs.

They live with the worker, not in the Celery adapter: the adapter only makes the
app (broker, delivery guarantees); what a delivery does is the worker's business,
through the process's :class:`~benchfarm.composition.Farm`. The worker process
imports this module before it starts consuming, so the tasks are registered in
every prefork child.
"""

from __future__ import annotations

from typing import Any

from benchfarm.adapters.celery_app import PRIORITY_STEPS, TASK_PING, TASK_RUN_JOB, app, on_process_exit
from benchfarm.composition import close_process_farm, process_farm

REFUSED_RETRY_S = 30
ENGINE_DOWN_RETRY_S = 5
LAST_PRIORITY_STEP = PRIORITY_STEPS[-1]  # kombu serves step 0 first

# a pool process ends with os._exit (no atexit): events its farm still queues are written here
on_process_exit(close_process_farm)


@app.task(name=TASK_RUN_JOB, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job(self: Any, job_id: str) -> str:
    """Run the job through this worker's executor; a host that must take no job puts it back for later."""
    farm = process_farm()
    if (why := farm.host_registry.refusal(farm.settings.minion_id)) is not None:
        raise self.retry(countdown=REFUSED_RETRY_S, max_retries=None, exc=RuntimeError(why))
    if (why := farm.share_gate.step_back(job_id, self.request.retries)) is not None:
        # fair share at dispatch: back to the end of the pool's queue (now, any host may take it; the last
        # priority step, so the team below its share is reached first), and this host takes the next job
        raise self.retry(countdown=0, max_retries=None, priority=LAST_PRIORITY_STEP, exc=RuntimeError(why))
    if (why := _engine_down(farm)) is not None:
        # a host whose engine is down would claim the job only to fail it at its first container: it leaves
        # the job queued for a host that can run it (or for itself once its supervisor restarted dockerd)
        raise self.retry(countdown=ENGINE_DOWN_RETRY_S, max_retries=None, exc=RuntimeError(why))
    job = farm.executor.execute(job_id)
    return "skipped" if job is None else job.status.value


def _engine_down(farm: Any) -> str | None:
    """Why this host's Docker engine cannot run a job now, or None when it answers a ping."""
    from benchfarm.errors import ServiceUnavailableError

    try:
        farm.engine.ping()
    except ServiceUnavailableError as exc:
        return f"host {farm.settings.minion_id}: {exc.message}; the job stays queued"
    return None


@app.task(name=TASK_PING)
def ping(n: int) -> int:
    """A task that does nothing: measures the broker and worker's own dispatch cost."""
    return n
