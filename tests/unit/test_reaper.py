"""The reaper on a fake clock: expired leases re-queued or failed, stale submissions queued, live work left alone."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from benchfarm.clock import FakeClock
from benchfarm.errors import ServiceUnavailableError
from benchfarm.execution.reaper import Reaper
from benchfarm.jobs.model import EventType, JobRecord, JobStatus
from benchfarm.jobs.repository import JobRepository
from benchfarm.runner.container_spec import LABEL_JOB, ContainerSpec
from tests.support.fake_engine import FakeEngine
from tests.support.memory_kv import MemoryKV


@pytest.fixture(autouse=True)
def _no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(seconds: float) -> None:
        raise AssertionError(f"a unit test slept {seconds} s for real; use the fake clock")

    monkeypatch.setattr(time, "sleep", refuse)


@dataclass
class RecordingDispatcher:
    enqueued: list[tuple[str, str, int]] = field(default_factory=list)
    down: bool = False
    held: set[str] = field(default_factory=set)  # jobs whose message waits in a queue or is taken, not acked
    looked_at: list[list[str]] = field(default_factory=list)

    def enqueue(self, job_id: str, queue: str, priority: int) -> str:
        if self.down:
            raise ServiceUnavailableError("the broker is not answering")
        self.enqueued.append((job_id, queue, priority))
        return f"task-{job_id}"

    def waiting(self, queues: list[str]) -> set[str]:
        """Nothing consumes here: every message sent is still waiting, besides those held by a worker."""
        self.looked_at.append(queues)
        return self.held | {job_id for job_id, _, _ in self.enqueued}


class Rig:
    """A reaper (max_attempts 2, 30 s grace) over the in-memory store, a fake engine and a fake clock."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.repo = JobRepository(MemoryKV())
        self.dispatcher = RecordingDispatcher()
        self.engine = FakeEngine(self.clock)
        self.reaper = Reaper(self.repo, self.dispatcher, self.engine, max_attempts=2, submitted_grace_s=30,
                             clock=self.clock)

    def sweep(self) -> list[str]:
        return self.reaper.sweep()

    def running(self, job_id: str = "job-1", *, lease_in_s: float, attempts: int = 1) -> JobRecord:
        return self.repo.create(JobRecord(
            id=job_id, spec={"name": "noop"}, status=JobStatus.RUNNING, image_ref="img", queue="pool.gpu",
            priority=7, worker_id="vm:123", host_id="vm", attempts=attempts, submitted_at=self.clock.ago(600),
            started_at=self.clock.ago(60), lease_until=self.clock.now() + lease_in_s))

    def submitted(self, job_id: str = "job-1", *, age_s: float) -> JobRecord:
        return self.repo.create(JobRecord(id=job_id, spec={"name": "noop"}, status=JobStatus.SUBMITTED,
                                          image_ref="img", queue="pool.default", submitted_at=self.clock.ago(age_s)))

    def leftover(self, job_id: str) -> str:
        return self.engine.add_running(ContainerSpec(image="img", command=None, name=f"bf-{job_id}-r0",
                                                     labels={LABEL_JOB: job_id}))

    def events(self, job_id: str = "job-1") -> list[EventType]:
        return [e.type for e in self.repo.events(job_id)]


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_an_expired_lease_is_queued_again_and_its_container_removed(rig: Rig):
    rig.running(lease_in_s=-1, attempts=1)
    mine, other = rig.leftover("job-1"), rig.leftover("job-2")

    assert rig.sweep() == ["job-1"]

    job = rig.repo.get("job-1")
    assert job.status == JobStatus.QUEUED and job.lease_until is None
    assert job.reason == "worker vm:123 lost; queued again"
    assert rig.dispatcher.enqueued == [("job-1", "pool.gpu", 7)]
    assert rig.events() == [EventType.REQUEUED]
    assert mine not in rig.engine.containers and other in rig.engine.containers


def test_an_expired_lease_after_the_last_attempt_fails_the_job(rig: Rig):
    rig.running(lease_in_s=-1, attempts=2)
    rig.leftover("job-1")

    assert rig.sweep() == ["job-1"]

    job = rig.repo.get("job-1")
    assert job.status == JobStatus.FAILED and job.reason == "worker lost (after 2 attempts)"
    assert job.finished_at == rig.clock.utcnow() and job.lease_until is None
    assert rig.dispatcher.enqueued == [] and rig.events() == [EventType.FAILED]
    assert rig.engine.containers == {}


def test_a_live_lease_is_left_alone_until_the_clock_passes_it(rig: Rig):
    rig.running(lease_in_s=30)
    assert rig.sweep() == [] and rig.repo.get("job-1").status == JobStatus.RUNNING
    rig.clock.advance(29)
    assert rig.sweep() == []
    rig.clock.advance(2)
    assert rig.sweep() == ["job-1"] and rig.repo.get("job-1").status == JobStatus.QUEUED


def test_a_lease_renewed_during_the_sweep_is_not_taken_away(rig: Rig):
    rig.running(lease_in_s=-1)
    list_containers = rig.engine.containers_with_label

    def worker_renews_meanwhile(key: str, value: str | None = None, *, all_states: bool = True) -> list:
        rig.repo.update("job-1", lambda job: setattr(job, "lease_until", rig.clock.now() + 30))
        return list_containers(key, value, all_states=all_states)

    rig.engine.containers_with_label = worker_renews_meanwhile  # type: ignore[method-assign]
    assert rig.sweep() == []
    assert rig.repo.get("job-1").status == JobStatus.RUNNING and rig.dispatcher.enqueued == []


def test_a_stale_submitted_job_is_queued(rig: Rig):
    rig.submitted(age_s=31)
    assert rig.sweep() == ["job-1"]
    assert rig.repo.get("job-1").status == JobStatus.QUEUED
    assert rig.dispatcher.enqueued == [("job-1", "pool.default", 5)]
    [event] = rig.repo.events("job-1")
    assert event.type == EventType.QUEUED and event.data == {"queue": "pool.default", "by": "reaper"}


def test_a_fresh_submission_gets_its_grace_period(rig: Rig):
    rig.submitted(age_s=10)
    assert rig.sweep() == [] and rig.dispatcher.enqueued == []
    rig.clock.advance(25)
    assert rig.sweep() == ["job-1"]


def test_a_submitted_job_stays_submitted_while_the_broker_is_down(rig: Rig):
    rig.submitted(age_s=60)
    rig.dispatcher.down = True
    with pytest.raises(ServiceUnavailableError):
        rig.sweep()
    assert rig.repo.get("job-1").status == JobStatus.SUBMITTED  # tried again at the next sweep
    rig.dispatcher.down = False
    assert rig.sweep() == ["job-1"] and rig.repo.get("job-1").status == JobStatus.QUEUED


def test_a_submitted_job_a_worker_claims_meanwhile_keeps_its_running_state(rig: Rig):
    rig.submitted(age_s=60)
    enqueue = rig.dispatcher.enqueue

    def worker_claims_at_once(job_id: str, queue: str, priority: int) -> str:
        task = enqueue(job_id, queue, priority)
        rig.repo.claim(job_id, "w2", "vm", lease_s=30, max_attempts=2)
        return task

    rig.dispatcher.enqueue = worker_claims_at_once  # type: ignore[method-assign]
    rig.sweep()
    assert rig.repo.get("job-1").status == JobStatus.RUNNING
    assert EventType.QUEUED not in rig.events()


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_other_jobs_are_not_touched(rig: Rig, status: JobStatus):
    rig.repo.create(JobRecord(id="job-1", spec={"name": "noop"}, status=status, image_ref="img",
                              submitted_at=rig.clock.ago(3600), lease_until=rig.clock.now() - 100))
    rig.dispatcher.held = {"job-1"}  # a queued job's message waits in its queue
    assert rig.sweep() == [] and rig.dispatcher.enqueued == [] and rig.events() == []


def test_without_an_engine_the_job_is_still_put_right(rig: Rig):
    rig.reaper = Reaper(rig.repo, rig.dispatcher, None, clock=rig.clock)
    rig.running(lease_in_s=-1)
    assert rig.sweep() == ["job-1"] and rig.repo.get("job-1").status == JobStatus.QUEUED


def test_a_job_whose_requeue_the_broker_refused_is_queued_at_the_next_sweep(rig: Rig):
    rig.running(lease_in_s=-1, attempts=1)
    rig.dispatcher.down = True
    with pytest.raises(ServiceUnavailableError):
        rig.sweep()
    job = rig.repo.get("job-1")
    assert job.status == JobStatus.RUNNING and job.attempts == 1  # left as it was read: nothing claims it now
    rig.dispatcher.down = False
    assert rig.sweep() == ["job-1"]
    assert rig.repo.get("job-1").status == JobStatus.QUEUED and rig.dispatcher.enqueued == [("job-1", "pool.gpu", 7)]


def test_a_job_claimed_through_the_message_just_sent_keeps_its_new_attempt(rig: Rig):
    rig.running(lease_in_s=-1, attempts=1)
    enqueue = rig.dispatcher.enqueue

    def worker_claims_at_once(job_id: str, queue: str, priority: int) -> str:
        task = enqueue(job_id, queue, priority)
        rig.repo.update(job_id, lambda j: (setattr(j, "attempts", 2), setattr(j, "worker_id", "w2"),
                                           setattr(j, "lease_until", rig.clock.now() + 30)))
        return task

    rig.dispatcher.enqueue = worker_claims_at_once  # type: ignore[method-assign]
    assert rig.sweep() == []
    job = rig.repo.get("job-1")
    assert job.status == JobStatus.RUNNING and job.worker_id == "w2" and job.lease_until is not None
    assert EventType.REQUEUED not in rig.events()


def test_due_jobs_are_found_however_long_the_history_and_only_they_are_read(rig: Rig):
    for i in range(600):  # finished jobs, newer than the two below: the history a sweep must not wade through
        rig.repo.create(JobRecord(id=f"job-done-{i:03d}", spec={"name": "noop"}, status=JobStatus.SUCCEEDED,
                                  image_ref="img", submitted_at=rig.clock.ago(60)))
    assert rig.sweep() == []  # (the first sweep of a store also indexes what an older version wrote, once)
    rig.running("job-lost", lease_in_s=-1)
    rig.submitted("job-unqueued", age_s=3600)
    read: list[str] = []
    mget = rig.repo.kv.mget
    rig.repo.kv.mget = lambda keys: (read.extend(keys), mget(keys))[1]  # type: ignore[method-assign]

    assert sorted(rig.sweep()) == ["job-lost", "job-unqueued"]

    assert rig.repo.get("job-lost").status == JobStatus.QUEUED
    assert rig.repo.get("job-unqueued").status == JobStatus.QUEUED
    assert sorted(read) == ["benchfarm:job:job-lost", "benchfarm:job:job-unqueued"]
    read.clear()
    assert rig.sweep() == [] and read == []  # nothing due: nothing read


def _queued(rig: Rig, job_id: str, *, age_s: float) -> JobRecord:
    return rig.repo.create(JobRecord(id=job_id, spec={"name": "noop"}, status=JobStatus.QUEUED, image_ref="img",
                                     queue="pool.nodes", priority=3, submitted_at=rig.clock.ago(age_s)))


def test_a_queued_job_whose_message_is_nowhere_is_sent_again_after_the_grace(rig: Rig):
    """Seen in the fault campaign: a worker took the message and died before the broker recorded it as taken."""
    _queued(rig, "lost", age_s=30)
    _queued(rig, "held", age_s=300)
    rig.dispatcher.held = {"held"}
    assert rig.sweep() == []  # "lost" is young, "held" has its message: nothing to do
    assert rig.dispatcher.enqueued == [] and rig.dispatcher.looked_at == [["pool.nodes"]]
    rig.clock.advance(31)
    assert rig.sweep() == ["lost"]
    assert rig.dispatcher.enqueued == [("lost", "pool.nodes", 3)]
    assert rig.events("lost") == [EventType.QUEUED] and rig.repo.get("lost").status == JobStatus.QUEUED


def test_the_queues_are_read_at_most_every_lost_check_period_and_only_for_overdue_jobs(rig: Rig):
    assert rig.sweep() == [] and rig.dispatcher.looked_at == []  # nothing queued: the broker is not read
    _queued(rig, "lost", age_s=300)
    rig.clock.advance(10)
    assert rig.sweep() == []  # 10 s after the last look: not yet
    rig.clock.advance(25)
    assert rig.sweep() == ["lost"] and len(rig.dispatcher.looked_at) == 1


def test_a_queued_job_that_was_claimed_leaves_the_index(rig: Rig):
    _queued(rig, "job-1", age_s=300)
    assert rig.repo.claim("job-1", "vm:1", "vm", 15, 2) is not None
    assert rig.repo.queued_before(rig.clock.now()) == []
    assert rig.sweep() == [] and rig.dispatcher.enqueued == []


class RecordingMirror:
    def __init__(self) -> None:
        self.records: list[JobRecord] = []

    def job_record(self, job: JobRecord) -> None:
        self.records.append(job)


def test_a_job_the_reaper_fails_is_mirrored_for_search(rig: Rig):
    """No executor publishes a job whose last worker was lost: the fault campaign found it missing from the
    jobs index while Redis said failed."""
    mirror = RecordingMirror()
    rig.reaper = Reaper(rig.repo, rig.dispatcher, rig.engine, max_attempts=2, mirror=mirror, clock=rig.clock)
    rig.running("job-1", lease_in_s=-1, attempts=2)
    rig.running("job-2", lease_in_s=-1, attempts=1)
    assert sorted(rig.sweep()) == ["job-1", "job-2"]
    assert [(j.id, j.status) for j in mirror.records] == [("job-1", JobStatus.FAILED)]  # job-2 was queued again
