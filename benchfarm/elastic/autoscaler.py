"""One autoscaler pass: take the lease, snapshot every elastic pool, plan, act, record each decision.

Where it runs: in every worker's housekeeping process (``benchfarm.worker.service``) on a host that
can run salt-cloud (the master's), every housekeeping period. Not a stack service of its own: the
housekeeping process already exists on the farm's main host, already has the composition root and
is supervised with the worker; the lease, not the process layout, makes it one decision-maker, so
a second farm host that can run salt-cloud is a standby for free.

Creating and destroying hosts take tens of seconds (salt-cloud, the minion-start reactor), longer
than a housekeeping period and far longer than the worker's heartbeat may pause, so they run on
threads started by the pass (``spawn``), several at once; the ledger says what is under way, so the
next pass (in this process or another) counts them.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from benchfarm.clock import SYSTEM_CLOCK, Clock
from benchfarm.elastic.costs import cost, day_of, day_start, seconds_by_day
from benchfarm.elastic.definition import PoolDefinition
from benchfarm.elastic.lease import DecisionLease, Fence
from benchfarm.elastic.planner import CREATE, DESTROY, DRAIN, UNDRAIN, Decision, HostView, PoolPlan, PoolSnapshot, plan
from benchfarm.elastic.store import CREATING, DESTROYING, DRAINING, LIVE, ElasticPoolStore, HostEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostFacts:
    name: str
    pool: str
    status: str
    alive: bool
    reason: str = ""  # why it has its status (a quarantine's reason, e.g. "health check failed: docker")


class FarmView(Protocol):
    """What the autoscaler reads and changes of the farm's scheduling state."""

    def hosts(self) -> list[HostFacts]: ...

    def running(self) -> dict[str, list[str]]:
        """host -> ids of the jobs running there now."""
        ...

    def pending(self) -> dict[str, list[str]]:
        """pool -> ids of its queued jobs, oldest first."""
        ...

    def set_status(self, host: str, status: str) -> None:
        """Drain (``maintenance``) or take back (``good``) a host."""
        ...


class Provisioner(Protocol):
    """Makes and destroys hosts (``benchfarm.stack.pool_provisioner.SaltCloudProvisioner`` fits)."""

    def create(self, pool: PoolDefinition, name: str) -> None:
        """Create host ``name`` from the pool's profile; returns once its worker heartbeats. Raises BenchfarmError."""
        ...

    def destroy(self, name: str) -> None:
        """Destroy host ``name`` (idempotent). Raises BenchfarmError."""
        ...


EventSink = Callable[[list[dict[str, Any]]], object]


def _thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="benchfarm-autoscaler-op", daemon=True).start()


def host_name(pool: str) -> str:
    """A new host's name: the pool's, a dash, six hex digits (a DNS label of at most 32 characters)."""
    stem = "".join(c if c.isalnum() or c == "-" else "-" for c in pool.lower())[:24].strip("-") or "pool"
    return f"{stem}-{secrets.token_hex(3)}"


def snapshot_pools(store: ElasticPoolStore, farm: FarmView, now: float) -> dict[str, PoolSnapshot]:
    """Every elastic pool as the farm sees it at ``now``: its hosts, queued jobs and today's spend."""
    definitions = store.definitions()
    entries = store.entries()
    facts = {h.name: h for h in farm.hosts()}
    running = farm.running()
    pending = farm.pending()
    usage = store.usage()
    out: dict[str, PoolSnapshot] = {}
    for name, d in definitions.items():
        hosts = [HostView(n, f.status, f.alive, bool(running.get(n)), entries.get(n), f.reason)
                 for n, f in facts.items() if f.pool == name]
        hosts += [HostView(n, "", False, bool(running.get(n)), e)
                  for n, e in entries.items() if e.pool == name and n not in facts]
        spent = usage.get(name)
        closed = spent.by_day.get(day_of(now), 0.0) if spent else 0.0
        open_s = sum(now - max(e.created_at, day_start(now)) for e in entries.values() if e.pool == name)
        out[name] = PoolSnapshot(d, now, sorted(hosts, key=lambda h: h.name), pending.get(name, []),
                                 spent_today=cost(closed + open_s, d.price_per_host_hour))
    return out


def pool_plans(store: ElasticPoolStore, farm: FarmView, now: float) -> dict[str, PoolPlan]:
    """What the autoscaler's next pass would do for each elastic pool, and why (reads only)."""
    return {name: plan(s) for name, s in snapshot_pools(store, farm, now).items()}


class Autoscaler:
    """Scales elastic pools (see the module docstring and ``planner``)."""

    def __init__(self, store: ElasticPoolStore, lease: DecisionLease, farm: FarmView, provisioner: Provisioner,
                 events: EventSink, *, clock: Clock = SYSTEM_CLOCK,
                 spawn: Callable[[Callable[[], None]], None] = _thread, create_timeout_s: float = 900.0) -> None:
        self.store = store
        self.lease = lease
        self.farm = farm
        self.provisioner = provisioner
        self.events = events
        self.clock = clock
        self.spawn = spawn
        self.create_timeout_s = create_timeout_s

    # reading -----------------------------------------------------------------
    def snapshots(self) -> dict[str, PoolSnapshot]:
        """Every elastic pool as the farm sees it now."""
        return snapshot_pools(self.store, self.farm, self.clock.now())

    def plans(self) -> dict[str, PoolPlan]:
        """What each pool's next pass would do, and why (no lease, no change)."""
        return {name: plan(s, self.create_timeout_s) for name, s in self.snapshots().items()}

    # acting ------------------------------------------------------------------
    def run_once(self) -> list[Decision]:
        """One pass; the decisions it made (none when another process holds the lease)."""
        fence = self.lease.acquire()
        if fence is None:
            return []
        snaps = self.snapshots()
        self._track_jobs(fence, snaps)
        made: list[Decision] = []
        for snap in snaps.values():
            p = plan(snap, self.create_timeout_s)
            for decision in p.decisions:
                if self._apply(fence, snap, decision, p):
                    made.append(decision)
        return made

    def _apply(self, fence: Fence, snap: PoolSnapshot, d: Decision, p: PoolPlan) -> bool:
        now = self.clock.now()
        entries = {h.name: h.entry for h in snap.hosts if h.entry is not None}
        if d.action == CREATE:
            name = host_name(d.pool)
            entry = HostEntry(name=name, pool=d.pool, state=CREATING, created_at=now, since=now, last_busy=now,
                              reason=d.reason)
            if not self.store.put_entry(fence, entry):
                return False
            self._event(fence, Decision(CREATE, d.pool, name, d.reason, d.replacing), p)
            self.spawn(lambda: self._create(fence, snap.definition, entry))
            return True
        found = entries.get(d.host or "")
        if found is None:
            return False
        entry = found
        if d.action == DRAIN:
            entry.state, entry.since, entry.reason, entry.replace = DRAINING, now, d.reason, bool(d.replacing)
            if not self.store.put_entry(fence, entry):
                return False
            self.farm.set_status(entry.name, "maintenance")
        elif d.action == UNDRAIN:
            entry.state, entry.since, entry.reason, entry.last_busy = LIVE, now, d.reason, now
            if not self.store.put_entry(fence, entry):
                return False
            self.farm.set_status(entry.name, "good")
        elif d.action == DESTROY:
            entry.state, entry.since = DESTROYING, now
            if not self.store.put_entry(fence, entry):
                return False
            self.spawn(lambda: self._destroy(fence, snap.definition, entry, d.reason))
        self._event(fence, d, p)
        return True

    def _create(self, fence: Fence, pool: PoolDefinition, entry: HostEntry) -> None:
        started = self.clock.monotonic()
        try:
            self.provisioner.create(pool, entry.name)
        except Exception as exc:  # anything: the host must not stay half made
            log.warning("creating %s for pool %s failed", entry.name, pool.name, exc_info=True)
            self._record(fence, {"action": "create-failed", "pool": pool.name, "host": entry.name,
                                 "reason": f"creation failed: {exc}"})
            self._destroy(fence, pool, entry, f"its creation failed: {exc}")
            return
        now = self.clock.now()
        entry.state, entry.since, entry.last_busy = LIVE, now, now
        self.store.put_entry(fence, entry)
        self._record(fence, {"action": "joined", "pool": pool.name, "host": entry.name,
                             "reason": f"created and joined in {self.clock.monotonic() - started:.1f} s",
                             "seconds": round(self.clock.monotonic() - started, 3)})

    def _destroy(self, fence: Fence, pool: PoolDefinition, entry: HostEntry, reason: str) -> None:
        try:
            self.provisioner.destroy(entry.name)
        except Exception as exc:
            log.warning("destroying %s failed", entry.name, exc_info=True)
            entry.error = str(exc)[-500:]
            self.store.put_entry(fence, entry)  # the next pass tries again (the entry stays destroying)
            self._record(fence, {"action": "destroy-failed", "pool": pool.name, "host": entry.name,
                                 "reason": f"destroy failed: {exc}"})
            return
        now = self.clock.now()
        lived = seconds_by_day(entry.created_at, now)
        self.store.add_usage(fence, pool.name, lived)
        self.store.drop_entry(fence, entry.name)
        seconds = now - entry.created_at
        self._record(fence, {"action": "destroyed", "pool": pool.name, "host": entry.name, "reason": reason,
                             "kind": "host-usage", "host_seconds": round(seconds, 3),
                             "host_hours": round(seconds / 3600, 6),
                             "cost": round(cost(seconds, pool.price_per_host_hour), 6)})

    def _track_jobs(self, fence: Fence, snaps: dict[str, PoolSnapshot]) -> None:
        """Keep each ledger host's last busy time, and cost each job that ran on it once it is gone."""
        now = self.clock.now()
        running = self.farm.running()
        for snap in snaps.values():
            for h in snap.hosts:
                e = h.entry
                if e is None or e.state not in (LIVE, DRAINING):
                    continue
                here = set(running.get(h.name, []))
                gone = [j for j in e.jobs if j not in here]
                new = [j for j in here if j not in e.jobs]
                if not (here or gone or new):
                    continue
                for job_id in gone:
                    seconds = now - e.jobs.pop(job_id)
                    self._record(fence, {"action": "job-cost", "kind": "job-cost", "pool": e.pool, "host": e.name,
                                         "job_id": job_id, "reason": "the job's share of its host's time",
                                         "host_seconds": round(seconds, 3), "host_hours": round(seconds / 3600, 6),
                                         "cost": round(cost(seconds, snap.definition.price_per_host_hour), 6)})
                for job_id in new:
                    e.jobs[job_id] = now
                if here:
                    e.last_busy = now
                self.store.put_entry(fence, e)

    # events ------------------------------------------------------------------
    def _event(self, fence: Fence, d: Decision, p: PoolPlan) -> None:
        self._record(fence, {"action": d.action, "pool": d.pool, "host": d.host, "reason": d.reason,
                             "replacing": d.replacing or None, "hosts": p.hosts, "creating": p.creating,
                             "pending": p.pending, "max_hosts": p.max_hosts, "spent_today": round(p.spent_today, 6)})

    def _record(self, fence: Fence, doc: dict[str, Any]) -> None:
        doc = {"@timestamp": datetime.fromtimestamp(self.clock.now(), UTC).isoformat(), "holder": self.lease.holder,
               "token": fence.token, "kind": doc.get("kind", "decision"), **doc}
        log.warning("autoscaler: %s %s %s: %s", doc["action"], doc["pool"], doc.get("host") or "", doc["reason"])
        try:
            self.events([doc])
        except Exception:  # the store being away must not stop scaling
            log.warning("could not record the autoscaler event", exc_info=True)

