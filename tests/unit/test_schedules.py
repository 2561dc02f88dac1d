"""Schedules on an in-memory Redis stand-in with a fake clock: cron fire times, one fire per fire time
across schedulers, grace after an outage, refusals recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from benchfarm.errors import NotFoundError, UnsatisfiableJobError, UserInputError
from benchfarm.schedules.cron import latest_fire, next_fire, validate
from benchfarm.schedules.loop import Scheduler
from benchfarm.schedules.model import Schedule
from benchfarm.schedules.repository import ScheduleRepository

T0 = datetime(2026, 1, 1, 2, 0, 0, tzinfo=UTC)


class FakeKV:
    """The ScheduleKV calls, in memory, with RedisKV's meaning (expiry ignored: the tests are shorter)."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str]] = {}
        self.keys: dict[str, str] = {}

    def hset(self, key: str, field: str, value: str) -> None:
        self.hashes.setdefault(key, {})[field] = value

    def hgetall(self, key: str) -> dict[str, str]:
        return dict(self.hashes.get(key, {}))

    def hdel(self, key: str, field: str) -> None:
        self.hashes.get(key, {}).pop(field, None)

    def set_if_absent(self, key: str, value: str, ttl_s: int) -> bool:
        assert ttl_s > 0
        if key in self.keys:
            return False
        self.keys[key] = value
        return True

    def wait_persisted(self) -> None:
        pass


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("expr,at,expected", [
    ("0 2 * * *", T0, T0),
    ("0 2 * * *", T0 - timedelta(seconds=1), T0 - timedelta(days=1)),
    ("*/5 * * * *", T0 + timedelta(minutes=4, seconds=59), T0),
    ("* * * * * */2", T0 + timedelta(seconds=5, microseconds=500_000), T0 + timedelta(seconds=4)),
])
def test_latest_fire_is_at_or_before(expr, at, expected):
    assert latest_fire(expr, at) == expected


def test_validate_normalises_and_refuses():
    assert validate(" 0  2 * * * ") == "0 2 * * *"
    assert next_fire("0 2 * * *", T0) == T0 + timedelta(days=1)
    for bad in ("", "0 2 * *", "61 * * * *", "* * * * * * * *", "every day"):
        with pytest.raises(ValueError):
            validate(bad)


def _schedule(sid: str = "s1", cron: str = "* * * * * *", created: datetime = T0) -> Schedule:
    return Schedule(id=sid, cron=cron, spec={"name": "bench"}, created_at=created)


def test_two_schedulers_fire_each_second_once():
    kv, clock = FakeKV(), Clock(T0)
    repo = ScheduleRepository(kv)
    repo.add(_schedule())
    fired: list[tuple[datetime, str]] = []

    def scheduler(name: str) -> Scheduler:
        return Scheduler(repo, lambda s, at: fired.append((at, name)) or f"job-{len(fired)}", name=name, clock=clock)

    a, b = scheduler("a"), scheduler("b")
    for step in range(40):  # 10 s in quarter seconds; both tick at every step, first one then the other
        clock.now = T0 + timedelta(milliseconds=250 * step)
        first, second = (a, b) if (step // 4) % 2 else (b, a)
        first.tick()
        second.tick()
    times = [at for at, _ in fired]
    assert times == [T0 + timedelta(seconds=i) for i in range(10)]
    assert {name for _, name in fired} == {"a", "b"}  # either may win a claim
    assert repo.last_fires()["s1"].fire_at == T0 + timedelta(seconds=9)


def test_after_an_outage_only_the_latest_time_fires_and_only_within_grace():
    kv, clock = FakeKV(), Clock(T0)
    repo = ScheduleRepository(kv)
    repo.add(_schedule(cron="*/5 * * * *", created=T0 - timedelta(hours=1)))
    fired: list[datetime] = []
    sched = Scheduler(repo, lambda s, at: fired.append(at) or "job", grace_s=120, clock=clock)
    clock.now = T0 + timedelta(minutes=11)  # fire times 02:00, 02:05, 02:10 were missed; 02:10 is 60 s old
    sched.tick()
    sched.tick()
    assert fired == [T0 + timedelta(minutes=10)]
    clock.now = T0 + timedelta(minutes=18)  # 02:15 is 180 s old: past the grace, skipped
    sched.tick()
    assert fired == [T0 + timedelta(minutes=10)]


def test_a_schedule_does_not_fire_for_a_time_before_it_was_made():
    repo, clock = ScheduleRepository(FakeKV()), Clock(T0 + timedelta(seconds=30))
    repo.add(_schedule(cron="0 2 * * *", created=T0 + timedelta(seconds=10)))
    fired: list[datetime] = []
    Scheduler(repo, lambda s, at: fired.append(at) or "job", clock=clock).tick()
    assert fired == []


def test_a_refused_fire_is_recorded_and_not_retried():
    repo, clock = ScheduleRepository(FakeKV()), Clock(T0)
    repo.add(_schedule())
    calls = []

    def refuse(schedule, at):
        calls.append(at)
        raise UnsatisfiableJobError("no registered host can run this job")

    sched = Scheduler(repo, refuse, clock=clock)
    (fire,) = sched.tick()
    assert fire.job_id is None and "no registered host" in (fire.error or "")
    assert sched.tick() == [] and len(calls) == 1
    assert repo.last_fires()["s1"].error == fire.error


def test_add_list_remove():
    repo = ScheduleRepository(FakeKV())
    repo.add(_schedule("b"))
    repo.add(_schedule("a"))
    with pytest.raises(UserInputError):
        repo.add(_schedule("a"))
    assert [s.id for s in repo.list()] == ["a", "b"]
    assert repo.remove("a").id == "a"
    assert [s.id for s in repo.list()] == ["b"]
    with pytest.raises(NotFoundError):
        repo.remove("a")


class Recorder:
    """Stands in for the job and campaign services: records what a fire submits."""

    def __init__(self) -> None:
        self.jobs: list[tuple] = []
        self.campaigns: list[tuple] = []

    def submit(self, spec, *, queue_anyway=False, submitted_by=None, team=None, visibility="public"):
        self.jobs.append((spec, submitted_by, visibility))
        return type("Job", (), {"id": f"job-{len(self.jobs)}"})()

    def create(self, request, *, queue_anyway=False, submitted_by=None, team=None, visibility="public"):
        self.campaigns.append((request, submitted_by))
        return type("Campaign", (), {"id": f"camp-{len(self.campaigns)}"})()


def test_a_fire_submits_the_spec_labelled_or_creates_a_campaign():
    from benchfarm.schedules.loop import JobSubmitter
    from benchfarm.schedules.model import FIRE_LABEL, SCHEDULE_LABEL

    spec = {"name": "bench", "image": "img:1", "env": {"THREADS": "1"},
            "results": {"format": "json-lines", "metrics": {"v": {"unit": "x"}}}, "labels": {"team": "a"}}
    repo, clock, services = ScheduleRepository(FakeKV()), Clock(T0), Recorder()
    repo.add(Schedule(id="plain", cron="* * * * * *", spec=spec, created_at=T0, created_by="ann"))
    repo.add(Schedule(id="camp", cron="* * * * * *", spec=spec, created_at=T0, created_by="bob",
                      across=["pool:a", "pool:b"], matrix={"THREADS": ["1", "2"]}))
    fires = {f.schedule_id: f for f in Scheduler(repo, JobSubmitter(services, services), clock=clock).tick()}
    assert (fires["plain"].job_id, fires["plain"].campaign_id) == ("job-1", None)
    assert (fires["camp"].job_id, fires["camp"].campaign_id) == (None, "camp-1")
    ((job_spec, who, visibility),) = services.jobs
    assert job_spec.labels == {"team": "a", SCHEDULE_LABEL: "plain", FIRE_LABEL: T0.isoformat()}
    assert (who, visibility) == ("ann", "private")
    ((request, who),) = services.campaigns
    assert request.across == ["pool:a", "pool:b"] and request.matrix == {"THREADS": ["1", "2"]} and who == "bob"
    assert request.spec["labels"][SCHEDULE_LABEL] == "camp"
