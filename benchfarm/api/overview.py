"""What ``GET /farm`` and ``GET /history`` answer, and the web console shows: built once, served twice.

The console's pages render these same models, so a number on a page is the number in the API's
JSON (the browser tests check exactly that).

- **Farm**: pools with their hosts and capacity (job slots of hosts that may take jobs), hosts with
  status, liveness, capacity and the jobs running there (from the index of running jobs, never a
  scan of the history), and the messages waiting in each Celery queue the hosts consume.
- **History**: a benchmark's per-job medians of one metric (the job summaries in Elasticsearch,
  :mod:`benchfarm.analysis.history`) and the change points the detector finds in them, computed on
  request and not stored (``benchfarm history --changes`` stores them).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from benchfarm.api.deps import ApiDeps
from benchfarm.errors import ServiceUnavailableError
from benchfarm.scheduler.matching import NOT_ELIGIBLE
from benchfarm.scheduler.queues import pool_queue, queues_for_host


class HostRow(BaseModel):
    """One host of the farm overview."""

    host_id: str
    pool: str
    status: str
    alive: bool = Field(description="a heartbeat within the registry's stale limit")
    last_seen_s_ago: float | None
    cpu_count: int
    memory_bytes: int
    gpus: list[str] = Field(description="GPU models")
    fpgas: list[str] = Field(description="FPGA vendor/model")
    slots: int = Field(description="jobs it runs at once (max_concurrent_jobs)")
    running_jobs: list[str] = Field(description="ids of the jobs running there now")


class PoolRow(BaseModel):
    """One pool of the farm overview."""

    name: str
    description: str
    draining: bool
    hosts: list[str]
    slots: int = Field(description="job slots of its live hosts that may take jobs")
    running: int = Field(description="jobs running on its hosts now")


class QueueRow(BaseModel):
    """One Celery queue: the messages waiting in it (taken ones are not counted)."""

    queue: str
    waiting: int


class FarmOverview(BaseModel):
    """``GET /farm``: pools, hosts and queues."""

    pools: list[PoolRow]
    hosts: list[HostRow]
    queues: list[QueueRow]
    running: int = Field(description="jobs running now, farm-wide")
    queued: int = Field(description="messages waiting, all queues together")


def farm_overview(d: ApiDeps) -> FarmOverview:
    """The farm as the scheduler sees it now.

    Raises:
        ServiceUnavailableError (503): Redis is not answering, or the app was made without the pool store
            or the queue reader.
    """
    if d.pools is None or d.queue_depths is None:
        raise ServiceUnavailableError("this API was started without the farm overview's readers",
                                      hint="serve it with `benchfarm api serve`")
    running: dict[str, list[str]] = {}
    for job in d.repo.running():
        running.setdefault(job.host_id or "?", []).append(job.id)
    caps = {h.host_id: h for h in d.hosts.hosts()}
    hosts = []
    for row in d.hosts.describe():
        h = caps[row["host_id"]]
        hosts.append(HostRow(host_id=h.host_id, pool=h.pool, status=h.status, alive=row["alive"],
                             last_seen_s_ago=row["last_seen_s_ago"], cpu_count=h.cpu_count,
                             memory_bytes=h.memory_bytes, gpus=[g.model for g in h.gpus],
                             fpgas=[f"{f.vendor}/{f.model}" for f in h.fpgas], slots=h.max_concurrent_jobs,
                             running_jobs=sorted(running.get(h.host_id, []))))
    by_pool: dict[str, list[HostRow]] = {}
    for hr in hosts:
        by_pool.setdefault(hr.pool, []).append(hr)
    pools = [PoolRow(name=p["name"], description=p["description"], draining=p["draining"], hosts=p["hosts"],
                     slots=sum(h.slots for h in by_pool.get(p["name"], []) if h.alive and h.status not in NOT_ELIGIBLE),
                     running=sum(len(h.running_jobs) for h in by_pool.get(p["name"], [])))
             for p in d.pools.list()]
    names = sorted({pool_queue("default"), *(q for h in caps.values() for q in queues_for_host(h))})
    depths = d.queue_depths(names)
    queues = [QueueRow(queue=q, waiting=depths.get(q, 0)) for q in names]
    return FarmOverview(pools=pools, hosts=hosts, queues=queues, running=sum(len(v) for v in running.values()),
                        queued=sum(q.waiting for q in queues))


class HistoryPointBody(BaseModel):
    """One job of a history: when it finished and its median of the metric."""

    index: int
    at: str
    job_id: str
    value: float
    git_ref: str | None = None


class ChangeBody(BaseModel):
    """A change point: the level moves from ``before`` to ``after`` at point ``index``."""

    index: int
    before: float
    after: float
    magnitude: float | None = Field(description="relative change of the median (null: from zero)")
    p_value: float
    job_before: str
    job_after: str


class HistoryBody(BaseModel):
    """``GET /history``: one series and its change points."""

    series: str
    points: list[HistoryPointBody]
    changes: list[ChangeBody]


def history(d: ApiDeps, name: str, metric: str, *, host: str | None = None, hardware_class: str | None = None,
            branch: str | None = None) -> HistoryBody:
    """The series of ``metric`` for benchmark ``name`` (one point per succeeded job) and its change points
    (default detector settings, as ``benchfarm history --changes``).

    Raises:
        UserInputError (422): both a host and a hardware class.
        ServiceUnavailableError (503): Elasticsearch is not answering.
    """
    import math

    from benchfarm.analysis.changepoints import detect
    from benchfarm.analysis.history import SeriesKey, build_series
    from benchfarm.errors import UserInputError

    if d.store is None:
        raise ServiceUnavailableError("this API was started without the store reader",
                                      hint="serve it with `benchfarm api serve`")
    try:
        key = SeriesKey(name, metric, host_id=host, hardware_class=hardware_class, branch=branch)
    except ValueError as exc:
        raise UserInputError(str(exc), hint="give host or class, not both") from exc
    series = build_series(d.store.job_summaries(key.query()), metric)
    changes = [ChangeBody(index=c.index, before=c.before, after=c.after,
                          magnitude=c.magnitude if math.isfinite(c.magnitude) else None, p_value=c.p_value,
                          job_before=series[c.index - 1].job_id, job_after=series[c.index].job_id)
               for c in detect([p.value for p in series])]
    return HistoryBody(series=key.name(),
                       points=[HistoryPointBody(index=i, at=p.at, job_id=p.job_id, value=p.value, git_ref=p.git_ref)
                               for i, p in enumerate(series)],
                       changes=changes)
