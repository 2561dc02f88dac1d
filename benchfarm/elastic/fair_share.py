"""Fair share between teams, applied at dispatch (issue 13, item 5).

A pool's definition may give teams (the ``team`` of the API's users, ``benchfarm.access.tokens``) a share
of its hosts, e.g. ``{"team-a": 0.5, "team-b": 0.5}``. When a host's worker takes a job of that pool off
the queue, just before it claims it, it asks :func:`decide`:

    run the job, unless its team already runs at least its share of the pool's hosts while another team,
    below its share, has a job of the pool waiting; then the job steps back (to the end of the queue,
    behind every priority) and the host takes the next one.

Why so, and why so small:

- **Shares act at dispatch and never preempt.** A measurement cut short is worth nothing, so a host is
  never taken back from a running job; the one moment a share can act is when a host frees. Serving the
  team below its share first at that moment bounds its wait by "the next host that frees", which is the
  guarantee the issue asks for, and nothing stronger can be had without preemption.
- **Borrowing falls out of the rule.** A team at or over its share still runs whenever no team below its
  share waits, so capacity is never held idle for a team that is not there; the borrower gives it back
  one host at a time, as its jobs end.
- **No second queue or scheduler.** Jobs stay in the Celery pool queue they were sent to; the decision is
  a pure function of a few counts read from Redis (jobs running and waiting per team, the pool's hosts),
  the same whichever host asks, and unit-tested without a broker. A step back is a re-publish of the
  same job id, which the repository's claim already makes harmless if it is ever delivered twice.
- **It overrides priority between teams only.** A team's burst at priority 9 steps back behind another
  team's priority-0 job when that team is below its share; within a team, or between teams on the same
  side of their shares, priority and submit order decide as before.
- A team the pool names no share for (or a job without a team) has a share of 0: it only borrows.

Two hosts freeing at once decide one after the other (a short per-pool lock), and a job let through
counts as running until it is claimed (see :class:`ShareGate`). Accepted limit: a job steps back at most
:data:`MAX_STEP_BACKS` times, so a rival's waiting job that never reaches this queue (a lost message, a
job no host of the pool can take) does not hold the pool's hosts idle for ever.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from benchfarm.elastic.farm_view import job_pool
from benchfarm.jobs.model import JobRecord, JobStatus
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.host_registry import HostRegistry

log = logging.getLogger(__name__)

#: a job steps back at most this many times, then runs anyway (see the module docstring)
MAX_STEP_BACKS = 50
PREFIX = "benchfarm:fairshare"
RESERVATION_S = 30.0   # a job let through counts as running until claimed, or this long at most
LOCK_TTL_S = 5         # a pool's decision lock outlives a stopped decider by this much at most
LOCK_WAIT_S = 3.0
NO_TEAM = "(no team)"


@dataclass(frozen=True)
class ShareState:
    """What the rule needs to know of one pool now."""

    pool: str
    shares: dict[str, float]    # team -> fraction of the pool's hosts
    hosts: int                  # the pool's hosts that take jobs (status good)
    running: dict[str, int]     # team -> its jobs running on the pool now
    waiting: dict[str, int]     # team -> its jobs of the pool queued (the deciding job left out)

    def entitled(self, team: str) -> float:
        """Hosts ``team`` may hold against others' waiting jobs (a fraction is fine: 0.5 of one host)."""
        return self.shares.get(team, 0.0) * max(self.hosts, 1)

    def below_share(self, team: str) -> bool:
        return self.running.get(team, 0) < self.entitled(team)


@dataclass(frozen=True)
class ShareVerdict:
    run: bool
    reason: str


def decide(team: str | None, state: ShareState) -> ShareVerdict:
    """Whether a job of ``team`` may take a host of the pool now (see the module docstring)."""
    team = team or NO_TEAM
    if not state.shares:
        return ShareVerdict(True, f"pool {state.pool} has no shares")
    mine, entitled = state.running.get(team, 0), state.entitled(team)
    if mine < entitled:
        return ShareVerdict(True, f"team {team} runs {mine} job(s), below its share of pool {state.pool} "
                                  f"({entitled:g} of {state.hosts} host(s))")
    rivals = sorted(t for t, n in state.waiting.items() if n > 0 and t != team and state.below_share(t))
    if rivals:
        return ShareVerdict(False, f"pool {state.pool}: team {team} runs {mine} job(s), its share is "
                                   f"{entitled:g} of {state.hosts} host(s); team {rivals[0]} is below its "
                                   "share and waits, so its job takes the next free host")
    return ShareVerdict(True, f"team {team} borrows idle capacity of pool {state.pool} ({mine} running, share "
                              f"{entitled:g} of {state.hosts} host(s)); no team below its share waits")


class ShareKV(Protocol):
    """What the gate keeps in the key-value store (``benchfarm.adapters.redis_store.RedisKV`` fits)."""

    def set_if_absent(self, key: str, value: str, ttl_s: int) -> bool: ...
    def delete(self, *keys: str) -> None: ...
    def hset(self, key: str, field: str, value: str) -> None: ...
    def hgetall(self, key: str) -> dict[str, str]: ...
    def hdel(self, key: str, field: str) -> None: ...


class ShareGate:
    """Reads a pool's :class:`ShareState` from the registry and the job repository (Redis) and decides.

    Between the decision to run a job and its claim by the executor (a few hundred milliseconds), the
    job is still queued in the repository, so a second host deciding then would not count it. So that
    two hosts freeing at once cannot both give a host to one team, decisions for a pool are taken one at
    a time (a short lock in Redis, ``benchfarm:fairshare:<pool>:lock``), and a job let through is
    *reserved* (``benchfarm:fairshare:<pool>:starting``) and counted as running until the repository
    shows it claimed, or for :data:`RESERVATION_S` at most.
    """

    def __init__(self, shares: Callable[[], dict[str, dict[str, float]]], registry: HostRegistry,
                 repo: JobRepository, kv: ShareKV | None = None, recent_queued: int = 200,
                 clock: Callable[[], float] = time.time) -> None:
        self.shares = shares  # pool -> its teams' shares (``ElasticPoolStore.all_shares``: one read per job)
        self.registry = registry
        self.repo = repo
        self.kv = kv
        self.recent_queued = recent_queued
        self.clock = clock

    def _reserved(self, pool: str, queued: set[str]) -> dict[str, str]:
        """job id -> team of the jobs let through and not claimed yet (stale reservations are dropped)."""
        if self.kv is None:
            return {}
        key, now, out = f"{PREFIX}:{pool}:starting", self.clock(), {}
        for job_id, raw in self.kv.hgetall(key).items():
            team, _, at = raw.rpartition("|")
            if job_id in queued and now - float(at or 0) < RESERVATION_S:
                out[job_id] = team
            else:
                self.kv.hdel(key, job_id)
        return out

    def state(self, pool: str, leave_out: str | None = None) -> ShareState | None:
        """The pool's state, or None when it gives no shares (the common case: one read of the shares)."""
        shares = self.shares().get(pool)
        if not shares:
            return None
        hosts = sum(1 for h in self.registry.hosts() if h.pool == pool and h.status == "good")
        running = Counter(j.team or NO_TEAM for j in self.repo.running() if job_pool(j) == pool)
        queued = [j for j in self.repo.list(status=JobStatus.QUEUED.value, limit=self.recent_queued)
                  if job_pool(j) == pool and not j.cancel_requested]
        reserved = self._reserved(pool, {j.id for j in queued})
        running.update(reserved.values())
        waiting = Counter(j.team or NO_TEAM for j in queued if j.id != leave_out and j.id not in reserved)
        return ShareState(pool, dict(shares), hosts, dict(running), dict(waiting))

    def check(self, job: JobRecord) -> ShareVerdict:
        """Whether ``job`` may take a host now (reads only)."""
        pool = job_pool(job)
        state = self.state(pool, leave_out=job.id)
        return ShareVerdict(True, f"pool {pool} has no shares") if state is None else decide(job.team, state)

    def _decide_and_reserve(self, job: JobRecord) -> ShareVerdict:
        pool = job_pool(job)
        if self.kv is None or not self.shares().get(pool):
            return self.check(job)
        lock = f"{PREFIX}:{pool}:lock"
        deadline = time.monotonic() + LOCK_WAIT_S
        while not (held := self.kv.set_if_absent(lock, job.id, ttl_s=LOCK_TTL_S)) and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            verdict = self.check(job)
            if verdict.run:
                self.kv.hset(f"{PREFIX}:{pool}:starting", job.id, f"{job.team or NO_TEAM}|{self.clock()}")
            return verdict
        finally:
            if held:  # (without it, after LOCK_WAIT_S, the decision went ahead unlocked: a share is a preference)
                self.kv.delete(lock)

    def step_back(self, job_id: str, times: int) -> str | None:
        """Why the delivery of ``job_id`` should go back to the queue instead of running, or None to run it
        (then the job is reserved until its claim; see the class docstring).

        ``times``: how often this job stepped back already. Only a queued job is judged (a delivery of a
        running or final one is the executor's to skip); a failure to read the state runs the job (the
        share is a preference, a lost host-slot is a cost).
        """
        if times >= MAX_STEP_BACKS:
            return None
        try:
            job = self.repo.get(job_id)
            if job.status != JobStatus.QUEUED or job.cancel_requested:
                return None
            verdict = self._decide_and_reserve(job)
        except Exception:
            log.warning("fair share of job %s could not be judged; it runs", job_id, exc_info=True)
            return None
        return None if verdict.run else verdict.reason
