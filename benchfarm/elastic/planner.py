"""What the autoscaler does next for one pool, and why: a pure function of a snapshot.

Kept apart from the pass that acts (``autoscaler``) so that ``benchfarm pool show`` and the API can
say what *will* happen with the same code that decides it, and so every rule is unit-tested
without a clock or a store:

- **replace, not repair**: a host the autoscaler made that is quarantined is drained; once it runs no job
  it is destroyed and one is created from the profile. Policy ``on-health-check`` replaces a host that
  failed its health check, ``on-drift`` also one quarantined for drift (``benchfarm hosts drift
  --quarantine`` records the reason ``drift: ...``), ``never`` leaves the quarantine to a person.
- **scale up**: queued jobs of the pool beyond its idle live hosts and the hosts being created ask
  for hosts, up to ``max_hosts`` and to what the day's remaining budget pays for one hour each;
  below ``min_hosts`` asks too. A drained idle host is taken back before a new one is made.
- **scale down**: when no queued job lacks a host, hosts idle past the timeout are drained (the
  pool stays at ``min_hosts`` or more, and keeps an idle host for each queued job), and a drained
  host is destroyed only in a later pass and only while it runs no job: a host with a running job is never destroyed.
- **above max** (an operator lowered ``max_hosts``): surplus hosts are drained, idle ones first; a busy
  one finishes its job first, as every drained host does.
- a host stuck in creation past ``create_timeout_s`` (its creator died) is destroyed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from benchfarm.elastic.costs import next_day_start
from benchfarm.elastic.definition import PoolDefinition, ReplacePolicy
from benchfarm.elastic.store import CREATING, DESTROYING, DRAINING, LIVE, HostEntry

UNHEALTHY = ("quarantined", "bad")
DESTROY_RETRY_S = 120.0

CREATE, DRAIN, UNDRAIN, DESTROY = "create", "drain", "undrain", "destroy"


@dataclass(frozen=True)
class HostView:
    """One host of the pool as the registry, the jobs and the ledger see it."""

    name: str
    status: str = ""            # the registry's (good, quarantined, maintenance, ...); "" when not registered
    alive: bool = False         # its worker's heartbeat is fresh
    busy: bool = False          # it runs a job now
    entry: HostEntry | None = None  # the ledger's, when the autoscaler made it
    reason: str = ""            # why the registry holds it in its status (a quarantine's reason)


@dataclass
class PoolSnapshot:
    definition: PoolDefinition
    now: float
    hosts: list[HostView]
    pending: list[str]          # ids of the pool's queued jobs, oldest first
    spent_today: float = 0.0


@dataclass(frozen=True)
class Decision:
    action: str                 # create, drain, undrain, destroy
    pool: str
    host: str | None
    reason: str
    replacing: str = ""


@dataclass
class PoolPlan:
    """The decisions for one pool and the figures they came from."""

    pool: str
    decisions: list[Decision] = field(default_factory=list)
    hosts: int = 0              # hosts counted against max (not being destroyed)
    creating: int = 0
    idle: int = 0               # live, good, no running job
    busy: int = 0
    pending: int = 0
    max_hosts: int = 0
    spent_today: float = 0.0
    budget_blocked: str | None = None   # "pool X: budget spent until 00:00 UTC"
    held: str | None = None             # why queued jobs get no new host although they need one

    def next_step(self) -> str:
        """What happens next, in words."""
        if self.decisions:
            return "; ".join(f"{d.action} {d.host or 'a host'}: {d.reason}" for d in self.decisions)
        if self.held:
            return f"nothing can be done now: {self.held}"
        return (f"nothing to do: {self.hosts} host(s) ({self.busy} busy, {self.idle} idle, {self.creating} being "
                f"created), {self.pending} queued job(s)")

    def wait_reason(self) -> str:
        """Why a queued job of this pool waits."""
        if self.budget_blocked:
            return self.budget_blocked
        being = self.creating + sum(1 for d in self.decisions if d.action == CREATE)
        if being:
            return f"waiting for a host of pool {self.pool} ({being} of max {self.max_hosts} being created)"
        if self.held:
            return f"waiting for a host of pool {self.pool} ({self.held})"
        return f"waiting for a free host of pool {self.pool} ({self.busy} busy of {self.hosts})"


def replaces(policy: ReplacePolicy, reason: str) -> bool:
    """Whether ``policy`` replaces a host quarantined for ``reason`` (drift reasons start with ``drift:``)."""
    if policy == ReplacePolicy.NEVER:
        return False
    return policy == ReplacePolicy.ON_DRIFT or not reason.startswith("drift")


def _until_midnight(now: float) -> str:
    return datetime.fromtimestamp(next_day_start(now), UTC).strftime("%H:%M UTC")


def plan(snap: PoolSnapshot, create_timeout_s: float = 900.0) -> PoolPlan:
    """The decisions for one pool now (see the module docstring)."""
    d = snap.definition
    out = PoolPlan(pool=d.name, max_hosts=d.max_hosts, pending=len(snap.pending), spent_today=snap.spent_today)
    counted = [h for h in snap.hosts if h.status != "retired" and not (h.entry and h.entry.state == DESTROYING)]
    creating = [h for h in counted if h.entry and h.entry.state == CREATING]
    draining = [h for h in counted if h.entry and h.entry.state == DRAINING]
    usable = [h for h in counted if h.alive and h.status == "good" and (h.entry is None or h.entry.state == LIVE)]
    idle = [h for h in usable if not h.busy]
    out.hosts, out.creating, out.idle = len(counted), len(creating), len(idle)
    out.busy = sum(1 for h in counted if h.busy)
    leaving = 0

    # a creator that died leaves its host half made: destroy it
    for h in creating:
        assert h.entry is not None
        if snap.now - h.entry.since > create_timeout_s:
            out.decisions.append(Decision(DESTROY, d.name, h.name, f"still being created after "
                                          f"{snap.now - h.entry.since:.0f} s (its creator stopped)"))
            leaving += 1

    # a destroy that failed (or whose process died) is tried again
    for h in snap.hosts:
        if h.entry and h.entry.state == DESTROYING and snap.now - h.entry.since > DESTROY_RETRY_S:
            out.decisions.append(Decision(DESTROY, d.name, h.name, "destroying again ("
                                          + (h.entry.error or "its destroyer stopped") + ")"))

    # replace, not repair
    for h in counted:
        if h.entry and h.entry.state == LIVE and h.status in UNHEALTHY and replaces(d.replace, h.reason):
            why = h.reason or "failed its health check"
            out.decisions.append(Decision(DRAIN, d.name, h.name, f"it is {h.status} ({why}); policy "
                                          f"{d.replace.value} replaces it", replacing=h.name))

    # drained hosts go once they run no job; a replaced one gets its successor at once
    want_back = max(0, len(snap.pending) - len(idle) - len(creating))
    for h in draining:
        assert h.entry is not None
        if h.busy:
            continue
        if want_back and not h.entry.replace and h.alive and h.status in ("good", "maintenance"):
            out.decisions.append(Decision(UNDRAIN, d.name, h.name, f"{len(snap.pending)} queued job(s) need it "
                                          "again before it was destroyed"))
            want_back -= 1
            continue
        out.decisions.append(Decision(DESTROY, d.name, h.name, h.entry.reason or "drained"))
        leaving += 1
        if h.entry.replace:
            out.decisions.append(Decision(CREATE, d.name, None, f"replaces {h.name} ({h.entry.reason})",
                                          replacing=h.name))
    replacements = sum(1 for x in out.decisions if x.action == CREATE)

    # scale up
    total = len(counted) - leaving + replacements
    need = want_back
    below_min = d.min_hosts - total
    want = max(need, below_min, 0)
    room = max(0, d.max_hosts - total)
    n = min(want, room)
    if want > room:
        out.held = f"at max {d.max_hosts} host(s)"
    if d.daily_budget is not None and want > 0:
        remaining = d.daily_budget - snap.spent_today
        afford = (math.inf if d.price_per_host_hour == 0 else math.floor(remaining / d.price_per_host_hour)) \
            if remaining > 0 else 0
        if afford <= 0:
            out.budget_blocked = f"pool {d.name}: budget spent until {_until_midnight(snap.now)}"
            n = 0
        elif afford - total < n:  # each host, old and new, must be paid for one more hour
            n = max(0, int(afford) - total)
            out.held = (f"the day's remaining budget ({remaining:.2f}) pays one more hour for {int(afford)} "
                        "host(s) only")
    if n > 0:
        why = (f"below min {d.min_hosts} host(s)" if below_min >= need else
               f"{len(snap.pending)} queued job(s), {len(idle)} idle live host(s), {len(creating)} being created")
        out.decisions += [Decision(CREATE, d.name, None, why) for _ in range(n)]

    # above max (lowered by an operator): drain the surplus, idle hosts first; none is destroyed while busy
    acted = {x.host for x in out.decisions if x.action in (DRAIN, DESTROY)}
    back = {x.host for x in out.decisions if x.action == UNDRAIN}
    staying = [h for h in counted if h.name not in acted and (h.name in back or not (h.entry and h.entry.state ==
                                                                                       DRAINING))]
    over = len(staying) + sum(1 for x in out.decisions if x.action == CREATE) - d.max_hosts
    if over > 0:
        surplus = [h for h in staying if h.entry is not None and h.entry.state == LIVE]
        surplus.sort(key=lambda h: (h.busy, -(h.entry.last_busy if h.entry else 0.0)))
        for h in surplus[:over]:
            out.decisions.append(Decision(DRAIN, d.name, h.name, f"the pool has {len(staying)} host(s), above "
                                          f"its max {d.max_hosts}" + ("; destroyed once its running job ends"
                                                                       if h.busy else "")))
        return out

    # scale down: only when no queued job lacks a host
    if need <= 0:
        # a queued job is about to land on an idle host: that many idle hosts are not spare
        spare = min(total - d.min_hosts, len(idle) - len(snap.pending))
        idle_ledger = [h for h in idle if h.entry is not None and h.entry.state == LIVE]
        idle_ledger.sort(key=lambda h: h.entry.last_busy if h.entry else 0.0)
        for h in idle_ledger:
            assert h.entry is not None
            idle_for = snap.now - h.entry.last_busy
            if spare <= 0 or idle_for < d.idle_timeout_s:
                continue
            out.decisions.append(Decision(DRAIN, d.name, h.name, f"idle for {idle_for:.0f} s (timeout "
                                          f"{d.idle_timeout_s:g} s) and the pool is above min {d.min_hosts}"))
            spare -= 1
    return out
