"""Pure logic of job records: durable create, atomic claim (idempotency), leases, cancel, events."""

from __future__ import annotations

import time

import pytest

from benchfarm.errors import NotFoundError
from benchfarm.jobs.model import EventType, JobRecord, JobStatus
from benchfarm.jobs.repository import JobRepository
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
    repo.claim("job-1", "w1", "h", lease_s=1, max_attempts=2)
    before = repo.get("job-1").lease_until
    assert repo.renew_lease("job-1", "w1", lease_s=60) is False
    assert repo.get("job-1").lease_until > before + 30
    repo.update("job-1", lambda j: setattr(j, "cancel_requested", True))
    assert repo.renew_lease("job-1", "w1", lease_s=60) is True


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
