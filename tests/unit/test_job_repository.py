"""Pure logic of job records: durable create, atomic claim (idempotency), leases, cancel, events."""

from __future__ import annotations

import time

import pytest

from benchfarm.clock import FakeClock
from benchfarm.errors import LeaseLostError, NotFoundError
from benchfarm.jobs.model import EventType, JobRecord, JobStatus
from benchfarm.jobs.repository import JobRepository, Lease
from tests.support.memory_kv import MemoryKV


def _repo() -> JobRepository:
    return JobRepository(MemoryKV())


def _job(job_id: str = "job-1", status: JobStatus = JobStatus.QUEUED) -> JobRecord:
    return JobRecord(id=job_id, spec={"name": "noop", "repetitions": 2}, status=status, image_ref="x")


def test_get_unknown_job_names_it():
    with pytest.raises(NotFoundError, match="job-missing"):
        _repo().get("job-missing")


def test_claim_runs_a_job_once_even_when_delivered_twice():
    repo = _repo()
    repo.create(_job())
    first = repo.claim("job-1", "w1", "host-a", lease_s=30, max_attempts=2)
    second = repo.claim("job-1", "w2", "host-a", lease_s=30, max_attempts=2)
    assert first is not None and first.status == JobStatus.RUNNING and first.attempts == 1
    assert second is None
    assert [e.type for e in repo.events("job-1")] == [EventType.STARTED]


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_final_job_is_never_claimed_again(status):
    repo = _repo()
    repo.create(_job(status=status))
    assert repo.claim("job-1", "w1", "h", lease_s=30, max_attempts=5) is None
    assert repo.get("job-1").status == status


def test_an_expired_lease_lets_another_worker_take_over_and_counts_the_attempt():
    repo = _repo()
    repo.create(_job())
    repo.claim("job-1", "w1", "h", lease_s=-1, max_attempts=3)  # already expired
    again = repo.claim("job-1", "w2", "h", lease_s=30, max_attempts=3)
    assert again is not None and again.worker_id == "w2" and again.attempts == 2


def test_attempts_are_bounded():
    repo = _repo()
    repo.create(_job())
    repo.claim("job-1", "w1", "h", lease_s=-1, max_attempts=1)
    assert repo.claim("job-1", "w2", "h", lease_s=30, max_attempts=1) is None
    job = repo.get("job-1")
    assert job.status == JobStatus.FAILED and "worker lost" in job.reason


def test_cancel_requested_before_claim_cancels_instead_of_running():
    repo = _repo()
    repo.create(_job())
    repo.update("job-1", lambda j: setattr(j, "cancel_requested", True))
    assert repo.claim("job-1", "w1", "h", lease_s=30, max_attempts=2) is None
    assert repo.get("job-1").status == JobStatus.CANCELLED


def test_renew_lease_extends_it_and_reports_cancel():
    repo = _repo()
    repo.create(_job())
    lease = Lease.of(repo.claim("job-1", "w1", "h", lease_s=1, max_attempts=2))
    before = repo.get("job-1").lease_until
    assert repo.renew_lease(lease, lease_s=60) is False
    assert repo.get("job-1").lease_until > before + 30
    repo.update("job-1", lambda j: setattr(j, "cancel_requested", True))
    assert repo.renew_lease(lease, lease_s=60) is True


# ---------------------------------------------------------------- fencing
def _fenced_repo() -> tuple[JobRepository, FakeClock]:
    clock = FakeClock()
    repo = JobRepository(MemoryKV(), clock=clock)
    repo.create(_job())
    return repo, clock


def test_a_lease_taken_over_by_a_later_attempt_is_reported_lost_and_its_writes_refused():
    repo, clock = _fenced_repo()
    first = repo.claim("job-1", "w1", "h", lease_s=30, max_attempts=3)
    clock.advance(31)  # w1 paused past its lease...
    second = repo.claim("job-1", "w2", "h", lease_s=30, max_attempts=3)  # ...and w2 took the job over
    assert first is not None and second is not None
    stale, current = Lease.of(first), Lease.of(second)

    with pytest.raises(LeaseLostError, match="attempt 1 of worker w1 lost its lease: attempt 2 of worker w2"):
        repo.renew_lease(stale, lease_s=30)
    with pytest.raises(LeaseLostError):
        repo.update_fenced(stale, lambda j: setattr(j, "status", JobStatus.SUCCEEDED))
    job = repo.get("job-1")
    assert job.status == JobStatus.RUNNING and job.worker_id == "w2" and job.attempts == 2
    assert repo.renew_lease(current, lease_s=30) is False  # the current attempt carries on


def test_an_expired_lease_is_not_renewed_even_before_anyone_takes_the_job():
    repo, clock = _fenced_repo()
    lease = Lease.of(repo.claim("job-1", "w1", "h", lease_s=30, max_attempts=3))
    clock.advance(29)
    repo.renew_lease(lease, lease_s=30)  # in time
    clock.advance(31)
    with pytest.raises(LeaseLostError, match=r"expired 1\.0 s ago"):
        repo.renew_lease(lease, lease_s=30)


@pytest.mark.parametrize("moved_on", [
    pytest.param(lambda j: (setattr(j, "status", JobStatus.FAILED), setattr(j, "reason", "oom-killed")),
                 id="failed-by-a-container-event"),
    pytest.param(lambda j: setattr(j, "status", JobStatus.QUEUED), id="queued-again-by-the-reaper"),
    pytest.param(lambda j: setattr(j, "status", JobStatus.CANCELLED), id="cancelled"),
])
def test_a_fenced_write_never_overwrites_a_job_that_moved_on(moved_on):
    repo, _ = _fenced_repo()
    lease = Lease.of(repo.claim("job-1", "w1", "h", lease_s=30, max_attempts=3))
    repo.update("job-1", moved_on)
    before = repo.get("job-1")
    with pytest.raises(LeaseLostError, match=f"it is {before.status.value} now"):
        repo.update_fenced(lease, lambda j: setattr(j, "status", JobStatus.SUCCEEDED))
    assert repo.get("job-1") == before


# ---------------------------------------------------------------- the reaper's indexes
def test_the_lease_index_follows_claims_renewals_and_the_end_of_a_run():
    kv = MemoryKV()
    clock = FakeClock()
    repo = JobRepository(kv, clock=clock)
    repo.create(_job(status=JobStatus.SUBMITTED))
    assert kv.zsets[repo.submitted_key] == {"job-1": repo.get("job-1").submitted_at.timestamp()}
    lease = Lease.of(repo.claim("job-1", "w1", "h", lease_s=30, max_attempts=2))
    assert kv.zsets[repo.submitted_key] == {} and kv.zsets[repo.leases_key] == {"job-1": clock.now() + 30}
    clock.advance(10)
    repo.renew_lease(lease, lease_s=30)
    assert kv.zsets[repo.leases_key] == {"job-1": clock.now() + 30}
    repo.update_fenced(lease, lambda j: setattr(j, "status", JobStatus.SUCCEEDED))
    assert kv.zsets[repo.leases_key] == {}


def test_due_jobs_come_from_the_indexes_not_from_the_history():
    kv = MemoryKV()
    clock = FakeClock()
    repo = JobRepository(kv, clock=clock)
    for i in range(50):
        repo.create(_job(f"job-old-{i}", status=JobStatus.SUCCEEDED))
    repo.create(_job("job-run"))
    repo.claim("job-run", "w1", "h", lease_s=30, max_attempts=2)
    read: list[str] = []
    mget = kv.mget
    kv.mget = lambda keys: (read.extend(keys), mget(keys))[1]  # type: ignore[method-assign]
    assert repo.expired_leases(clock.now()) == []
    clock.advance(31)
    assert [j.id for j in repo.expired_leases(clock.now())] == ["job-run"]
    assert read == ["benchfarm:job:job-run"]  # the one running job, never the 50 finished ones


def test_an_index_entry_the_record_moved_past_is_put_right():
    kv = MemoryKV()
    clock = FakeClock()
    repo = JobRepository(kv, clock=clock)
    repo.create(_job("job-1", status=JobStatus.SUCCEEDED))
    kv.zsets[repo.leases_key]["job-1"] = clock.now() - 5  # e.g. a backfill that raced the job's end
    kv.zsets[repo.leases_key]["job-gone"] = clock.now() - 5
    assert repo.expired_leases(clock.now()) == []
    assert kv.zsets[repo.leases_key] == {}


def test_a_store_from_before_the_indexes_is_indexed_once():
    kv = MemoryKV()
    repo = JobRepository(kv)
    running = _job("job-run", status=JobStatus.RUNNING)
    running.lease_until = 123.0
    for job in (running, _job("job-sub", status=JobStatus.SUBMITTED), _job("job-done", status=JobStatus.FAILED)):
        kv.data[f"benchfarm:job:{job.id}"] = job.model_dump_json()  # written by a version without the indexes
        kv.zadd("benchfarm:jobs", job.id, job.submitted_at.timestamp())
    assert repo.ensure_indexes(page=2) == 3
    assert kv.zsets[repo.leases_key] == {"job-run": 123.0} and list(kv.zsets[repo.submitted_key]) == ["job-sub"]
    assert repo.ensure_indexes() == 0


def test_list_filters_and_orders_newest_first():
    repo = _repo()
    for i in range(3):
        job = _job(f"job-{i}")
        job.labels = {"git_ref": f"r{i}"}
        job.submitted_at = job.submitted_at.fromtimestamp(time.time() + i, job.submitted_at.tzinfo)
        repo.create(job)
    assert [j.id for j in repo.list()] == ["job-2", "job-1", "job-0"]
    assert [j.id for j in repo.list(label=("git_ref", "r1"))] == ["job-1"]
    assert repo.list(status="running") == []


def test_events_are_numbered_and_published():
    kv = MemoryKV()
    repo = JobRepository(kv)
    repo.create(_job())
    repo.emit("job-1", EventType.SUBMITTED)
    repo.emit("job-1", EventType.QUEUED, {"queue": "pool.default"})
    assert [(e.seq, e.type) for e in repo.events("job-1")] == [(1, EventType.SUBMITTED), (2, EventType.QUEUED)]
    assert [e.seq for e in repo.events("job-1", after_seq=1)] == [2]
    assert [c for c, _ in kv.published] == ["benchfarm:events:job-1"] * 2


def test_a_failing_listener_never_breaks_the_job_path():
    def boom(_event):
        raise RuntimeError("elasticsearch away")

    repo = JobRepository(MemoryKV(), listeners=[boom])
    repo.create(_job())
    assert repo.emit("job-1", EventType.SUBMITTED).seq == 1


def test_a_job_goes_to_the_queue_of_a_host_with_a_live_worker():
    from types import SimpleNamespace

    from benchfarm.scheduler.capabilities import HostCapabilities
    from benchfarm.scheduler.host_registry import HostRegistry
    from benchfarm.scheduler.service import JobService
    from benchfarm.spec.loader import load_spec_data

    kv = MemoryKV()
    hosts = HostRegistry(kv)
    hosts.register(HostCapabilities(host_id="a-grains-only", pool="alpha", cpu_count=2, memory_bytes=1 << 30))
    hosts.register(HostCapabilities(host_id="b-worker", pool="beta", cpu_count=2, memory_bytes=1 << 30))
    hosts.worker_heartbeat("b-worker")  # only b runs a job worker
    sent = []

    class Dispatcher:
        def enqueue(self, job_id, queue, priority):
            sent.append(queue)
            return job_id

    class Images:
        def resolve_image(self, ref):
            return SimpleNamespace(id="sha256:1", tags=[ref], repo_digests=[], labels={}, created="")

    service = JobService(JobRepository(kv), hosts, Images(), Dispatcher())
    job = service.submit(load_spec_data({"name": "j", "image": "i"}))
    assert job.queue == "pool.beta" and sent == ["pool.beta"]


def test_listings_count_an_adaptive_jobs_repetitions_against_its_maximum():
    plain = JobRecord(id="job-1", spec={"name": "noop", "repetitions": 2}, image_ref="x")
    adaptive = JobRecord(id="job-2", spec={"name": "noop", "repetitions": 5,
                                           "adaptive": {"target_cv": 0.02, "max_repetitions": 15}}, image_ref="x")
    assert plain.summary()["repetitions"] == plain.planned_repetitions == 2
    assert adaptive.summary()["repetitions"] == adaptive.planned_repetitions == 15  # not the ignored 5
