"""The elastic pools' definitions, planner and autoscaler, with a fake clock, a fake provisioner and an
in-memory store and lease that behave as the Redis adapters do (same methods, same fencing)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from benchfarm.clock import FakeClock
from benchfarm.elastic.autoscaler import Autoscaler, HostFacts
from benchfarm.elastic.costs import seconds_by_day
from benchfarm.elastic.definition import ReplacePolicy, parse_definition
from benchfarm.elastic.lease import DecisionLease
from benchfarm.elastic.planner import CREATE, DESTROY, DRAIN, PoolSnapshot, plan, replaces
from benchfarm.elastic.store import DRAINING, LIVE, ElasticPoolStore
from benchfarm.errors import UserInputError


class MemoryKV:
    """The hash and lease calls of RedisKV / RedisLeases, in memory, with expiry on a fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.hashes: dict[str, dict[str, str]] = {}
        self.leases: dict[str, tuple[str, int, float]] = {}
        self.tokens: dict[str, int] = {}

    def hset(self, key: str, field: str, value: str) -> None:
        self.hashes.setdefault(key, {})[field] = value

    def hgetall(self, key: str) -> dict[str, str]:
        return dict(self.hashes.get(key, {}))

    def hdel(self, key: str, field: str) -> None:
        self.hashes.get(key, {}).pop(field, None)

    def _current(self, key: str) -> tuple[str, int, float] | None:
        cur = self.leases.get(key)
        return cur if cur and cur[2] > self.clock.monotonic() else None

    def lease_acquire(self, key: str, holder: str, ttl_s: float) -> int | None:
        cur = self._current(key)
        if cur and cur[0] != holder:
            return None
        token = cur[1] if cur else self.tokens.get(key, 0) + 1
        self.tokens[key] = token
        self.leases[key] = (holder, token, self.clock.monotonic() + ttl_s)
        return token

    def _holds(self, key: str, token: int) -> bool:
        cur = self._current(key)
        return cur is not None and cur[1] == token

    def fenced_hset(self, lease_key: str, token: int, key: str, field: str, value: str) -> bool:
        if not self._holds(lease_key, token):
            return False
        self.hset(key, field, value)
        return True

    def fenced_hdel(self, lease_key: str, token: int, key: str, field: str) -> bool:
        if not self._holds(lease_key, token):
            return False
        self.hdel(key, field)
        return True


class FakeFarm:
    """Hosts, running and queued jobs; a created host joins alive and good."""

    def __init__(self) -> None:
        self.facts: dict[str, HostFacts] = {}
        self.jobs_running: dict[str, list[str]] = {}
        self.queued: dict[str, list[str]] = {}
        self.status_changes: list[tuple[str, str]] = []

    def hosts(self) -> list[HostFacts]:
        return list(self.facts.values())

    def running(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.jobs_running.items() if v}

    def pending(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.queued.items() if v}

    def set_status(self, host: str, status: str) -> None:
        f = self.facts[host]
        self.facts[host] = HostFacts(f.name, f.pool, status, f.alive)
        self.status_changes.append((host, status))


class FakeProvisioner:
    def __init__(self, farm: FakeFarm) -> None:
        self.farm = farm
        self.created: list[str] = []
        self.destroyed: list[str] = []
        self.alive_at_once = 0

    def create(self, pool, name: str) -> None:
        self.created.append(name)
        self.farm.facts[name] = HostFacts(name, pool.name, "good", True)
        self.alive_at_once = max(self.alive_at_once, sum(1 for f in self.farm.facts.values() if f.pool == pool.name))

    def destroy(self, name: str) -> None:
        assert not self.farm.jobs_running.get(name), f"destroyed {name} while it ran a job"
        self.destroyed.append(name)
        self.farm.facts.pop(name, None)


class Deferred:
    """``spawn`` that holds the work until ``run_all`` (hosts being created stay so between passes)."""

    def __init__(self) -> None:
        self.work: list[Callable[[], None]] = []

    def __call__(self, work: Callable[[], None]) -> None:
        self.work.append(work)

    def run_all(self) -> None:
        work, self.work = self.work, []
        for w in work:
            w()


@pytest.fixture
def world():
    clock = FakeClock(start=datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    kv = MemoryKV(clock)
    farm = FakeFarm()
    prov = FakeProvisioner(farm)
    events: list[dict] = []
    spawn = Deferred()
    store = ElasticPoolStore(kv, clock=type("T", (), {"time": staticmethod(clock.now)}))

    def autoscaler(holder: str = "a") -> Autoscaler:
        return Autoscaler(store, DecisionLease(kv, holder, ttl_s=30), farm, prov, events.extend, clock=clock,
                          spawn=spawn)

    return clock, kv, farm, prov, events, spawn, store, autoscaler


# --------------------------------------------------------------------------- definitions
@pytest.mark.parametrize(("data", "message"), [
    ({"name": "Bad Name"}, "not a valid pool name"),
    ({"name": "p", "min_hosts": 3, "max_hosts": 2}, "min_hosts (3) is above max_hosts (2)"),
    ({"name": "p", "max_hosts": -1}, "max_hosts"),
    ({"name": "p", "cpus": "zero"}, "not a CPU list"),
    ({"name": "p", "memory": "lots"}, "not a size"),
    ({"name": "p", "replace": "sometimes"}, "replace"),
    ({"name": "p", "idle_timeout_s": 0}, "idle_timeout_s"),
    ({"name": "p", "colour": "red"}, "colour"),
])
def test_invalid_definitions_name_the_field(data, message):
    with pytest.raises(UserInputError) as err:
        parse_definition(data)
    assert message in str(err.value)


def test_definitions_create_edit_and_refuse_a_second_create(world):
    *_, store, _ = world
    store.create({"name": "h13-p", "max_hosts": 2, "price_per_host_hour": 1.5})
    with pytest.raises(UserInputError, match="defined already"):
        store.create({"name": "h13-p"})
    edited = store.edit("h13-p", {"max_hosts": 3, "replace": "never"})
    assert (edited.max_hosts, edited.replace, edited.price_per_host_hour) == (3, ReplacePolicy.NEVER, 1.5)
    with pytest.raises(UserInputError, match="min_hosts"):
        store.edit("h13-p", {"min_hosts": 5})
    assert store.get("h13-p").max_hosts == 3


def test_seconds_split_at_utc_midnight():
    start = datetime(2026, 12, 1, 23, 30, tzinfo=UTC).timestamp()
    assert seconds_by_day(start, start + 3600) == {"2026-12-01": 1800.0, "2026-12-02": 1800.0}


# --------------------------------------------------------------------------- autoscaler
def test_a_burst_of_10_jobs_never_exceeds_max(world):
    clock, _kv, farm, prov, events, spawn, store, autoscaler = world
    store.create({"name": "h13-p", "max_hosts": 2})
    farm.queued["h13-p"] = [f"j{i}" for i in range(10)]
    scaler = autoscaler()
    first = scaler.run_once()
    assert [d.action for d in first] == [CREATE, CREATE]
    assert "10 queued job(s)" in first[0].reason
    assert scaler.run_once() == []  # two being created count against max
    assert scaler.plans()["h13-p"].wait_reason() == "waiting for a host of pool h13-p (2 of max 2 being created)"
    spawn.run_all()
    for _ in range(3):
        clock.advance(10)
        assert scaler.run_once() == []
    assert prov.alive_at_once == 2 and len(prov.created) == 2
    assert [e["action"] for e in events].count("create") == 2
    assert all(e["reason"] for e in events)


def test_budget_stops_scale_up_with_the_reason(world):
    clock, _kv, farm, prov, _events, spawn, store, autoscaler = world
    store.create({"name": "h13-b", "max_hosts": 4, "price_per_host_hour": 2.0, "daily_budget": 3.0})
    farm.queued["h13-b"] = ["j1", "j2", "j3"]
    scaler = autoscaler()
    made = scaler.run_once()
    assert [d.action for d in made] == [CREATE]  # 3.0 left pays one host-hour at 2.0
    assert scaler.run_once() == []  # the one host being created is all the budget pays for
    assert scaler.plans()["h13-b"].held == "the day's remaining budget (3.00) pays one more hour for 1 host(s) only"
    spawn.run_all()
    clock.advance(2 * 3600)  # the host has now spent 4.0 > 3.0
    farm.jobs_running[prov.created[0]] = ["j1"]
    farm.queued["h13-b"] = ["j2", "j3"]
    assert scaler.run_once() == []
    p = scaler.plans()["h13-b"]
    assert p.budget_blocked == "pool h13-b: budget spent until 00:00 UTC"
    assert p.wait_reason() == "pool h13-b: budget spent until 00:00 UTC"
    assert len(prov.created) == 1


def test_idle_destroy_never_touches_a_busy_host(world):
    clock, _kv, farm, prov, events, spawn, store, autoscaler = world
    store.create({"name": "h13-i", "max_hosts": 2, "idle_timeout_s": 60})
    farm.queued["h13-i"] = ["j1", "j2"]
    scaler = autoscaler()
    scaler.run_once()
    spawn.run_all()
    busy, idle = prov.created
    farm.queued["h13-i"] = []
    farm.jobs_running[busy] = ["j1"]
    for _ in range(20):  # 200 s: both past the timeout, one of them busy throughout
        clock.advance(10)
        scaler.run_once()
        spawn.run_all()
    assert prov.destroyed == [idle]
    assert busy in farm.facts and store.entries()[busy].state == LIVE
    assert any(e["action"] == DRAIN and e["host"] == idle and "idle for" in e["reason"] for e in events)
    destroyed = [e for e in events if e["action"] == "destroyed"]
    assert destroyed[0]["host_seconds"] > 60 and destroyed[0]["kind"] == "host-usage"
    # the busy host's job ends: it is costed, then the host goes idle and is drained and destroyed in turn
    farm.jobs_running[busy] = []
    for _ in range(10):
        clock.advance(10)
        scaler.run_once()
        spawn.run_all()
    assert prov.destroyed == [idle, busy]
    costs = [e for e in events if e["kind"] == "job-cost"]
    assert [c["job_id"] for c in costs] == ["j1"] and costs[0]["host_seconds"] >= 190


def test_a_host_draining_with_a_running_job_waits_for_it(world):
    clock, _kv, farm, prov, _events, spawn, store, autoscaler = world
    store.create({"name": "h13-d", "max_hosts": 1, "idle_timeout_s": 30})
    farm.queued["h13-d"] = ["j1"]
    scaler = autoscaler()
    scaler.run_once()
    spawn.run_all()
    farm.queued["h13-d"] = []
    clock.advance(40)
    assert [d.action for d in scaler.run_once()] == [DRAIN]
    farm.jobs_running[prov.created[0]] = ["late"]  # claimed just before the drain took effect
    clock.advance(10)
    assert scaler.run_once() == []
    assert store.entries()[prov.created[0]].state == DRAINING
    farm.jobs_running[prov.created[0]] = []
    clock.advance(10)
    assert [d.action for d in scaler.run_once()] == [DESTROY]


def test_two_autoscalers_with_one_lease_make_one_decision(world):
    clock, _kv, farm, _prov, events, _spawn, store, autoscaler = world
    store.create({"name": "h13-l", "max_hosts": 3})
    farm.queued["h13-l"] = ["j1"]
    a, b = autoscaler("a"), autoscaler("b")
    assert len(a.run_once()) == 1
    assert b.run_once() == []
    assert len(store.entries()) == 1
    # a stops; after its lease expires b decides, with a larger token; a's late writes are refused
    clock.advance(31)
    farm.queued["h13-l"] = ["j1", "j2"]
    assert len(b.run_once()) == 1
    tokens = sorted({e["token"] for e in events if e["action"] == CREATE})
    assert len(tokens) == 2 and tokens[0] < tokens[1]
    stale = a.lease.store.fenced_hset(a.lease.key, tokens[0], "x", "y", "z")
    assert stale is False


def test_a_quarantined_host_is_replaced_unless_the_policy_says_never(world):
    clock, _kv, farm, prov, _events, spawn, store, autoscaler = world
    store.create({"name": "h13-r", "min_hosts": 1, "max_hosts": 1})
    scaler = autoscaler()
    assert "below min 1" in scaler.run_once()[0].reason
    spawn.run_all()
    first = prov.created[0]
    farm.facts[first] = HostFacts(first, "h13-r", "quarantined", True)
    clock.advance(10)
    assert [(d.action, d.host) for d in scaler.run_once()] == [(DRAIN, first)]
    clock.advance(10)
    made = scaler.run_once()
    assert [d.action for d in made] == [DESTROY, CREATE] and f"replaces {first}" in made[1].reason
    spawn.run_all()
    assert prov.destroyed == [first] and len(prov.created) == 2
    # never: quarantine stays
    store.edit("h13-r", {"replace": "never"})
    second = prov.created[1]
    farm.facts[second] = HostFacts(second, "h13-r", "quarantined", True)
    clock.advance(10)
    assert scaler.run_once() == []


def test_a_creation_that_fails_is_cleaned_up_and_recorded(world):
    _clock, _kv, farm, prov, events, spawn, store, autoscaler = world
    store.create({"name": "h13-f", "max_hosts": 1})
    farm.queued["h13-f"] = ["j1"]

    def broken(pool, name):
        raise RuntimeError("salt-cloud exited 1")

    prov.create = broken  # type: ignore[method-assign]
    scaler = autoscaler()
    scaler.run_once()
    spawn.run_all()
    assert store.entries() == {}
    assert [e["action"] for e in events] == ["create", "create-failed", "destroyed"]


def test_plan_waits_at_max_and_says_so():
    d = parse_definition({"name": "h13-m", "max_hosts": 0})
    p = plan(PoolSnapshot(d, 0.0, [], ["j1"]))
    assert p.decisions == [] and p.held == "at max 0 host(s)"
    assert p.wait_reason() == "waiting for a host of pool h13-m (at max 0 host(s))"
    assert "nothing can be done now" in p.next_step()


def test_an_idle_host_a_queued_job_is_about_to_take_is_not_drained(world):
    clock, _kv, farm, _prov, _events, spawn, store, autoscaler = world
    store.create({"name": "h13-q", "max_hosts": 1, "idle_timeout_s": 5})
    farm.queued["h13-q"] = ["j1"]
    scaler = autoscaler()
    scaler.run_once()
    spawn.run_all()
    clock.advance(60)  # joined long ago, the job still queued (the image is being pulled): not spare
    assert scaler.run_once() == []
    farm.queued["h13-q"] = []
    assert [d.action for d in scaler.run_once()] == [DRAIN]


def test_replace_policy_on_health_check_leaves_a_drifted_host_quarantined_and_on_drift_replaces_it(world):
    clock, _kv, farm, prov, _events, spawn, store, autoscaler = world
    store.create({"name": "h13-dr", "min_hosts": 1, "max_hosts": 1, "replace": "on-health-check"})
    scaler = autoscaler()
    scaler.run_once()
    spawn.run_all()
    host = prov.created[0]
    farm.facts[host] = HostFacts(host, "h13-dr", "quarantined", True, "drift: benchfarm-worker-config")
    clock.advance(10)
    assert scaler.run_once() == []  # drift is not a failed health check: a person looks at it
    store.edit("h13-dr", {"replace": "on-drift"})
    made = scaler.run_once()
    assert [(d.action, d.host) for d in made] == [(DRAIN, host)] and "drift: benchfarm-worker-config" in made[0].reason



@pytest.mark.parametrize(("policy", "reason", "replaced"), [
    (ReplacePolicy.ON_HEALTH_CHECK, "health check failed: docker", True),
    (ReplacePolicy.ON_HEALTH_CHECK, "", True),
    (ReplacePolicy.ON_HEALTH_CHECK, "drift: benchfarm-worker-config", False),
    (ReplacePolicy.ON_DRIFT, "drift: benchfarm-worker-config", True),
    (ReplacePolicy.ON_DRIFT, "health check failed: docker", True),
    (ReplacePolicy.NEVER, "health check failed: docker", False),
])
def test_which_quarantines_a_policy_replaces(policy, reason, replaced):
    assert replaces(policy, reason) is replaced


def test_max_lowered_drains_the_surplus_and_a_busy_host_is_destroyed_only_after_its_job(world):
    clock, _kv, farm, prov, events, spawn, store, autoscaler = world
    store.create({"name": "h13-x", "max_hosts": 2, "idle_timeout_s": 3600})
    farm.queued["h13-x"] = ["j1", "j2"]
    scaler = autoscaler()
    scaler.run_once()
    spawn.run_all()
    busy, idle = prov.created
    farm.queued["h13-x"] = []
    farm.jobs_running[busy] = ["j1"]
    store.edit("h13-x", {"max_hosts": 0})
    clock.advance(5)
    made = scaler.run_once()
    assert [(d.action, d.host) for d in made] == [(DRAIN, idle), (DRAIN, busy)]
    assert "above its max 0; destroyed once its running job ends" in made[1].reason
    for _ in range(10):  # the busy host's job goes on: it is drained, never destroyed (FakeProvisioner asserts it)
        clock.advance(10)
        scaler.run_once()
        spawn.run_all()
    assert prov.destroyed == [idle] and store.entries()[busy].state == DRAINING
    farm.jobs_running[busy] = []
    clock.advance(10)
    scaler.run_once()
    spawn.run_all()
    assert prov.destroyed == [idle, busy]
    assert [e["action"] for e in events].count("destroyed") == 2
