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

Accepted limits: the check and the claim are not one transaction, so two hosts freeing in the same
instant may both start jobs of one team (the error lasts one job and is never a preemption); and a job
steps back at most :data:`MAX_STEP_BACKS` times, so a rival's waiting job that never reaches this queue
(a lost message, a job no host of the pool can take) does not hold the pool's hosts idle for ever.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from benchfarm.elastic.definition import PoolDefinition
from benchfarm.elastic.farm_view import job_pool
from benchfarm.jobs.model import JobRecord, JobStatus
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.host_registry import HostRegistry

log = logging.getLogger(__name__)

#: a job steps back at most this many times, then runs anyway (see the module docstring)
MAX_STEP_BACKS = 50
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


class ShareGate:
    """Reads a pool's :class:`ShareState` from the registry and the job repository (Redis) and decides."""

    def __init__(self, definitions: Callable[[], dict[str, PoolDefinition]], registry: HostRegistry,
                 repo: JobRepository, recent_queued: int = 200) -> None:
        self.definitions = definitions
        self.registry = registry
        self.repo = repo
        self.recent_queued = recent_queued

    def state(self, pool: str, leave_out: str | None = None) -> ShareState | None:
        """The pool's state, or None when it gives no shares (the common case: one read of the definitions)."""
        d = self.definitions().get(pool)
        if d is None or not d.shares:
            return None
        hosts = sum(1 for h in self.registry.hosts() if h.pool == pool and h.status == "good")
        running = Counter(j.team or NO_TEAM for j in self.repo.running() if job_pool(j) == pool)
        waiting = Counter(j.team or NO_TEAM for j in self.repo.list(status=JobStatus.QUEUED.value,
                                                                    limit=self.recent_queued)
                          if job_pool(j) == pool and j.id != leave_out and not j.cancel_requested)
        return ShareState(pool, dict(d.shares), hosts, dict(running), dict(waiting))

    def check(self, job: JobRecord) -> ShareVerdict:
        """Whether ``job`` may take a host now."""
        pool = job_pool(job)
        state = self.state(pool, leave_out=job.id)
        return ShareVerdict(True, f"pool {pool} has no shares") if state is None else decide(job.team, state)

    def step_back(self, job_id: str, times: int) -> str | None:
        """Why the delivery of ``job_id`` should go back to the queue instead of running, or None to run it.

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
            verdict = self.check(job)
        except Exception:
            log.warning("fair share of job %s could not be judged; it runs", job_id, exc_info=True)
            return None
        return None if verdict.run else verdict.reason
