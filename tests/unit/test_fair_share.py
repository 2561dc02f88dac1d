"""Fair share between teams at dispatch (benchfarm.elastic.fair_share): the rule, table-driven, and a
simulated two-host pool that replays the issue's scenario host-free by host-free."""

from __future__ import annotations

import pytest

from benchfarm.elastic.definition import parse_definition
from benchfarm.elastic.fair_share import ShareState, decide
from benchfarm.errors import UserInputError

HALF = {"a": 0.5, "b": 0.5}


@pytest.mark.parametrize(("team", "running", "waiting", "runs", "words"), [
    ("a", {}, {}, True, "below its share"),
    ("a", {"a": 1}, {}, True, "borrows idle capacity"),                  # b idle: a borrows b's half
    ("a", {"a": 1}, {"b": 1}, False, "team b is below its share"),     # b came back: a steps back
    ("a", {"a": 1, "b": 1}, {"b": 1}, True, "borrows"),                # b holds its share: FIFO among borrowers
    ("b", {"a": 1}, {"a": 4}, True, "below its share"),                # b is always served up to its half
    ("c", {}, {"a": 1}, False, "team a is below its share"),           # no share: c only borrows
    (None, {}, {}, True, "borrows"),                                   # no team: borrows when nobody waits
])
def test_the_rule(team, running, waiting, runs, words):
    verdict = decide(team, ShareState("p", HALF, 2, running, waiting))
    assert verdict.run is runs and words in verdict.reason


def test_a_pool_without_shares_runs_everything():
    assert decide("a", ShareState("p", {}, 2, {"a": 5}, {"b": 3})).run


def test_a_half_share_of_one_host_is_half_a_host():
    state = ShareState("p", HALF, 1, {"a": 1}, {"b": 1})
    assert not decide("a", state).run and decide("b", state).run


def _simulate(hosts: int, steps: list[tuple[str, str]], shares: dict[str, float] = HALF) -> list[str]:
    """Hand jobs to hosts as the workers do: a free host takes the first queued job the rule lets run; the
    ones it skips go to the end (a step back re-publishes them at the last priority step). ``steps``:
    ``("submit", "<team><n>")`` queues a job, ``("end", job)`` ends a running one, freeing its host."""
    running: dict[str, str] = {}  # job -> team
    queue: list[str] = []
    started: list[str] = []

    def counts(jobs: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for job in jobs:
            out[job[0]] = out.get(job[0], 0) + 1
        return out

    def fill() -> None:
        while len(running) < hosts and queue:
            for _ in range(len(queue)):
                job = queue.pop(0)
                if decide(job[0], ShareState("p", shares, hosts, counts(list(running)), counts(queue))).run:
                    running[job] = job[0]
                    started.append(job)
                    break
                queue.append(job)
            else:
                return

    for what, job in steps:
        if what == "submit":
            queue.append(job)
        else:
            running.pop(job)
        fill()
    return started


def test_a_burst_of_6_does_not_delay_the_other_teams_job_beyond_the_next_free_host():
    burst = [("submit", f"a{i}") for i in range(1, 7)]
    # b idle: a's burst takes both hosts (a borrows b's half)
    assert _simulate(2, burst) == ["a1", "a2"]
    # b's job arrives while a holds both; the first host to free takes it, ahead of a3..a6
    started = _simulate(2, [*burst, ("submit", "b1"), ("end", "a1"), ("end", "a2"), ("end", "b1"), ("end", "a3")])
    assert started == ["a1", "a2", "b1", "a3", "a4", "a5"]
    # without shares the same arrivals serve the whole burst first
    assert _simulate(2, [*burst, ("submit", "b1"), ("end", "a1")], shares={})[2] == "a3"


@pytest.mark.parametrize(("shares", "message"), [
    ({"a": 0.7, "b": 0.5}, "add up to 1.2"),
    ({"a": 0}, "in (0, 1]"),
    ({"a b": 0.5}, "not a team name"),
])
def test_invalid_shares_are_refused(shares, message):
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace("]", r"\]")):
        parse_definition({"name": "p", "shares": shares})


def test_shares_are_stored_apart_so_an_older_reader_of_definitions_is_not_broken():
    from benchfarm.elastic.store import DEFINITIONS_KEY, SHARES_KEY, ElasticPoolStore

    class KV:
        def __init__(self) -> None:
            self.h: dict[str, dict[str, str]] = {}

        def hset(self, key: str, field: str, value: str) -> None:
            self.h.setdefault(key, {})[field] = value

        def hgetall(self, key: str) -> dict[str, str]:
            return dict(self.h.get(key, {}))

        def hdel(self, key: str, field: str) -> None:
            self.h.get(key, {}).pop(field, None)

    kv = KV()
    store = ElasticPoolStore(kv, teams=lambda: {"a", "b"})
    store.create({"name": "p", "max_hosts": 2, "shares": HALF})
    assert "shares" not in kv.h[DEFINITIONS_KEY]["p"] and SHARES_KEY in kv.h
    assert store.get("p").shares == HALF and store.all_shares() == {"p": HALF}
    with pytest.raises(UserInputError, match="no API user is of team"):
        store.edit("p", {"shares": {"a": 0.5, "nobody": 0.5}})
    store.edit("p", {"shares": {}})
    assert store.get("p").shares == {} and kv.h[SHARES_KEY] == {}


class _Jobs:
    """The repository calls the gate makes, over a dict of records."""

    def __init__(self, jobs: list) -> None:
        self.jobs = {j.id: j for j in jobs}

    def get(self, job_id: str):
        return self.jobs[job_id]

    def running(self):
        return [j for j in self.jobs.values() if j.status.value == "running"]

    def list(self, *, status: str, limit: int):
        return [j for j in self.jobs.values() if j.status.value == status][:limit]


class _Hosts:
    def hosts(self):
        from benchfarm.scheduler.capabilities import HostCapabilities

        return [HostCapabilities(host_id=f"n{i}", pool="p", status="good") for i in range(2)]


class _KV:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.h: dict[str, dict[str, str]] = {}

    def set_if_absent(self, key: str, value: str, ttl_s: int) -> bool:
        return self.values.setdefault(key, value) == value

    def delete(self, *keys: str) -> None:
        for k in keys:
            self.values.pop(k, None)

    def hset(self, key: str, field: str, value: str) -> None:
        self.h.setdefault(key, {})[field] = value

    def hgetall(self, key: str) -> dict[str, str]:
        return dict(self.h.get(key, {}))

    def hdel(self, key: str, field: str) -> None:
        self.h.get(key, {}).pop(field, None)


def test_two_hosts_freeing_at_once_do_not_both_start_jobs_of_one_team():
    """a4 is let through and reserved; a5, decided before a4's claim, counts it and steps back for b1."""
    from benchfarm.elastic.fair_share import ShareGate
    from benchfarm.jobs.model import JobRecord, JobStatus

    def job(job_id: str, team: str) -> JobRecord:
        return JobRecord(id=job_id, spec={"requirements": {"pool": "p"}}, image_ref="i", queue="pool.p",
                         team=team, status=JobStatus.QUEUED)

    jobs = _Jobs([job("a4", "a"), job("a5", "a"), job("b1", "b")])
    gate = ShareGate(lambda: {"p": HALF}, _Hosts(), jobs, _KV())  # type: ignore[arg-type]
    assert gate.step_back("a4", 0) is None
    why = gate.step_back("a5", 0)
    assert why is not None and "team b is below its share" in why
    # once a4 is claimed (running), its reservation goes and it is counted from the repository
    jobs.jobs["a4"].status = JobStatus.RUNNING
    assert gate.step_back("a5", 1) is not None
    assert gate.step_back("a5", 50) is None  # stepped back enough: it runs
    assert gate.step_back("b1", 0) is None
    assert gate.step_back("a5", 2) is None  # b holds its share now (b1 reserved): a borrows the idle host
