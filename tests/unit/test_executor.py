"""The job executor against a fake engine, a fake clock and the in-memory job store (no Docker, no Redis)."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from benchfarm.clock import FakeClock
from benchfarm.errors import ServiceUnavailableError
from benchfarm.execution.executor import ExecutorConfig, JobExecutor, TelemetryReport
from benchfarm.execution.reaper import Reaper
from benchfarm.inventory.container_events import record_container_event
from benchfarm.jobs.model import EventType, JobRecord, JobStatus, RepetitionRecord
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.spec.model import JobSpec
from tests.support.fake_engine import KILLED_EXIT_CODE, Behaviour, FakeContainer, FakeEngine
from tests.support.memory_kv import MemoryKV

JOB = "job-1"
DIGEST = "sha256:feedface"


@pytest.fixture(autouse=True)
def _no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(seconds: float) -> None:
        raise AssertionError(f"a unit test slept {seconds} s for real; use the fake clock")

    monkeypatch.setattr(time, "sleep", refuse)


class FakeTelemetry:
    """A telemetry factory recording what it attached to, returning ``report`` at stop."""

    def __init__(self, report: TelemetryReport | None = None) -> None:
        self.report = report or TelemetryReport(sampler_cpu_seconds=0.01, samples_taken=3)
        self.attached: list[tuple[int, str, str | None]] = []
        self.stopped = 0

    def __call__(self, job: JobRecord, repetition: int, container_id: str, cpuset: str | None) -> FakeTelemetry:
        self.attached.append((repetition, container_id, cpuset))
        return self

    def stop(self) -> TelemetryReport:
        self.stopped += 1
        return self.report


@dataclass
class RecordingPublisher:
    repetitions: list[int] = field(default_factory=list)
    jobs: list[JobStatus] = field(default_factory=list)

    def repetition(self, job: JobRecord, rep: RepetitionRecord) -> None:
        self.repetitions.append(rep.index)

    def job(self, job: JobRecord) -> None:
        self.jobs.append(job.status)


@dataclass
class Rig:
    clock: FakeClock
    engine: FakeEngine
    repo: JobRepository
    executor: JobExecutor

    def run(self) -> JobRecord:
        final = self.executor.execute(JOB)
        assert final is not None
        return final

    def events(self) -> list[EventType]:
        return [e.type for e in self.repo.events(JOB)]

    def request_cancel(self, _container: FakeContainer | None = None) -> None:
        self.repo.update(JOB, lambda job: setattr(job, "cancel_requested", True))


class BoundedClock(FakeClock):
    """A fake clock that refuses to sleep more than ``max_sleeps`` times (a wait with no end fails the test)."""

    max_sleeps = 100_000

    def sleep(self, seconds: float) -> None:
        if len(self.slept) >= self.max_sleeps:
            raise AssertionError(f"slept {len(self.slept)} times: a wait with no end")
        super().sleep(seconds)


@pytest.fixture
def rig(tmp_path: Path):
    def build(behaviours: Any = None, *, caps: HostCapabilities | None = None,
              config: dict[str, Any] | None = None, **spec: Any) -> Rig:
        clock = BoundedClock()
        engine = FakeEngine(clock, behaviours)
        repo = JobRepository(MemoryKV(), clock=clock)
        job_spec = JobSpec.model_validate({"name": "noop", "image": "busybox:latest", **spec})
        repo.create(JobRecord(id=JOB, spec=job_spec.model_dump(), status=JobStatus.QUEUED, image_ref="busybox:latest",
                              image_digest=DIGEST, queue="pool.default", submitted_at=clock.utcnow()))
        executor = JobExecutor(
            repo, engine, caps or HostCapabilities(host_id="h1", cpu_model="Fake CPU", cpu_count=4),
            ExecutorConfig(worker_id="w1", lock_dir=tmp_path / "locks", results_root=tmp_path / "results",
                           **(config or {})),
            telemetry=FakeTelemetry(), publisher=RecordingPublisher(), clock=clock,
        )
        return Rig(clock, engine, repo, executor)

    return build


def _telemetry(r: Rig) -> FakeTelemetry:
    assert isinstance(r.executor.telemetry, FakeTelemetry)
    return r.executor.telemetry


def test_warm_up_and_measured_repetitions_succeed(rig):
    r = rig(Behaviour(runtime_s=2.0, stdout=b'{"ops": 12.5}\n', stderr=b"noise\n"), warmup=1, repetitions=3,
            resources={"cpuset": "1"})
    t0 = r.clock.utcnow()

    job = r.run()

    assert job.status == JobStatus.SUCCEEDED and job.reason is None and job.lease_until is None
    assert [(rep.index, rep.warmup) for rep in job.repetitions] == [(0, True), (1, False), (2, False), (3, False)]
    assert all(rep.metrics == {"ops": 12.5} and rep.exit_code == 0 for rep in job.repetitions)
    assert all(rep.duration_s == 2.0 and "noise" in rep.logs for rep in job.repetitions)
    assert job.repetitions_run == 3 and job.adaptive_converged is None and job.hardware_class == "Fake CPU"
    assert (job.finished_at - t0).total_seconds() == 8.0  # four 2 s repetitions of fake time
    # a fresh container per repetition, each with its labels, the pinned digest, none left behind
    assert len(r.engine.created) == 4 and r.engine.containers == {}
    assert r.events() == [EventType.STARTED] + [EventType.REPETITION_FINISHED] * 4 + [EventType.FINISHED]
    assert _telemetry(r).attached == [(i, f"fake{i:04d}", "1") for i in range(4)] and _telemetry(r).stopped == 4
    assert r.executor.publisher.repetitions == [0, 1, 2, 3] and r.executor.publisher.jobs == [JobStatus.SUCCEEDED]


def test_containers_carry_the_digest_and_labels(rig):
    seen: list[tuple[str, dict[str, str]]] = []

    def record(n: int, c: FakeContainer) -> Behaviour:
        seen.append((c.spec.image, dict(c.spec.labels)))
        return Behaviour()

    rig(record, warmup=1, repetitions=1).run()
    assert [image for image, _ in seen] == [DIGEST, DIGEST]
    assert [labels["benchfarm.warmup"] for _, labels in seen] == ["1", "0"]
    assert [labels["benchfarm.repetition"] for _, labels in seen] == ["0", "1"]


def test_one_container_started_again_when_the_job_opts_out_of_fresh_ones(rig):
    r = rig([Behaviour(stdout=b'{"v": 1}\n'), Behaviour(stdout=b'{"v": 2}\n'), Behaviour(stdout=b'{"v": 3}\n')],
            warmup=1, repetitions=2, fresh_container_per_repetition=False)
    job = r.run()
    assert job.status == JobStatus.SUCCEEDED
    assert [rep.metrics for rep in job.repetitions] == [{"v": 1.0}, {"v": 2.0}, {"v": 3.0}]  # each run's own output
    assert len(r.engine.created) == 1 and r.engine.removed == r.engine.created  # removed after the last run


@pytest.mark.parametrize("last", [Behaviour(stdout=b'{"v": 2}\n'), Behaviour(exit_code=3)])
def test_the_shared_container_is_gone_before_the_job_is_final(rig, last):
    r = rig([Behaviour(stdout=b'{"v": 1}\n'), last], warmup=0, repetitions=2, fresh_container_per_repetition=False)
    status_at_removal: list[JobStatus] = []
    remove = r.engine.remove

    def remove_and_look(container_id: str) -> None:
        status_at_removal.append(r.repo.get(JOB).status)
        remove(container_id)

    r.engine.remove = remove_and_look
    job = r.run()
    assert job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)
    assert status_at_removal == [JobStatus.RUNNING]  # whoever sees the job final finds no container of it


@pytest.mark.parametrize(("behaviour", "reason", "flag"), [
    (Behaviour(exit_code=3, stderr=b"bad input\n"), "exit code 3", None),
    (Behaviour(exit_code=137, oom_killed=True), "oom-killed", "oom_killed"),
    (Behaviour(runtime_s=3600), "timeout", "timed_out"),
])
def test_a_failing_repetition_fails_the_job_and_stops_there(rig, behaviour, reason, flag):
    r = rig([Behaviour(stdout=b'{"v": 1}\n'), behaviour], warmup=1, repetitions=3, timeout_s=30)
    job = r.run()
    assert job.status == JobStatus.FAILED and job.reason == reason and job.finished_at is not None
    assert len(job.repetitions) == 2 and len(r.engine.created) == 2 and r.engine.containers == {}
    if flag:
        assert getattr(job.repetitions[1], flag) is True
    assert r.events()[-1] == EventType.FAILED
    assert r.executor.publisher.jobs == [JobStatus.FAILED]


def test_a_timeout_kills_at_the_deadline_on_the_fake_clock(rig):
    r = rig(Behaviour(runtime_s=3600), warmup=0, repetitions=1, timeout_s=30)
    t0 = r.clock.monotonic()
    job = r.run()
    assert job.reason == "timeout" and job.repetitions[0].exit_code == KILLED_EXIT_CODE
    assert r.engine.killed == r.engine.created
    assert 30 <= r.clock.monotonic() - t0 < 31  # not the hour the container would have run


def test_cancel_while_a_repetition_runs_kills_it_within_a_lease_renewal(rig):
    r = rig(warmup=0, repetitions=3, timeout_s=600)
    r.engine.behaviours = Behaviour(runtime_s=3600, on_start=r.request_cancel)
    t0 = r.clock.monotonic()
    job = r.run()
    assert job.status == JobStatus.CANCELLED and job.reason == "cancelled by request"
    assert len(job.repetitions) == 1 and r.engine.killed == r.engine.created and r.engine.containers == {}
    # the executor learns of the cancel when it renews the lease (every renew_every_s)
    assert r.clock.monotonic() - t0 <= r.executor.config.renew_every_s + 1
    assert r.events()[-1] == EventType.CANCELLED


def test_cancel_between_repetitions_starts_no_further_container(rig):
    r = rig(warmup=0, repetitions=3)
    r.engine.behaviours = [Behaviour(runtime_s=1, stdout=b'{"v": 1}\n', on_start=r.request_cancel)]
    job = r.run()
    assert job.status == JobStatus.CANCELLED and len(job.repetitions) == 1 and len(r.engine.created) == 1
    assert job.repetitions[0].metrics == {"v": 1.0}  # the finished repetition is kept


def test_results_that_cannot_be_parsed_fail_the_job_with_the_reason(rig):
    r = rig(Behaviour(stdout=b'{"other": 1}\n'), warmup=0, repetitions=2,
            results={"metrics": {"ops": {"unit": "ops/s"}}})
    job = r.run()
    assert job.status == JobStatus.FAILED
    assert job.reason.startswith("results: metric ops not found in stdout")
    assert job.repetitions[0].error == job.reason and job.repetitions[0].metrics == {}
    assert len(job.repetitions) == 1


def test_results_from_a_file_in_the_results_dir(rig):
    r = rig(Behaviour(files={"/results/out.json": b'{"ops": 7}'}), warmup=0, repetitions=1,
            results={"format": "json-file", "path": "/results/out.json"})
    job = r.run()
    assert job.status == JobStatus.SUCCEEDED and job.repetitions[0].metrics == {"ops": 7.0}


def test_adaptive_repetitions_stop_once_converged(rig):
    r = rig(Behaviour(stdout=b'{"ops": 100}\n'), warmup=1,
            adaptive={"target_cv": 0.05, "min_repetitions": 3, "max_repetitions": 20})
    job = r.run()
    assert job.status == JobStatus.SUCCEEDED
    assert job.repetitions_run == 3 and job.adaptive_converged is True and len(job.repetitions) == 4


def test_an_engine_failure_fails_the_job_and_leaves_no_container(rig):
    r = rig(Behaviour(runtime_s=3600), warmup=0, repetitions=2)
    r.engine.fail["wait"] = ServiceUnavailableError("waiting for container fake0000: the engine went away")
    job = r.run()
    assert job.status == JobStatus.FAILED and "the engine went away" in job.reason
    assert r.engine.containers == {}
    assert _telemetry(r).stopped == 1  # the collectors attached to the broken repetition are stopped too


def test_a_bug_never_leaves_the_job_running(rig, monkeypatch):
    r = rig(warmup=0, repetitions=1)

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(r.executor, "_record", boom)
    job = r.run()
    assert job.status == JobStatus.FAILED and job.reason == "internal error: RuntimeError: boom"


def test_a_device_outside_the_allow_list_fails_before_any_container(rig):
    r = rig(devices=[{"host_path": "/dev/null"}])
    job = r.run()
    assert job.status == JobStatus.FAILED and "/dev/null is not on the allow-list of host h1" in job.reason
    assert r.engine.created == []


def test_telemetry_problems_mark_the_metrics_partial(rig):
    r = rig(warmup=0, repetitions=2)
    r.executor.telemetry = FakeTelemetry(TelemetryReport(partial=True, warning="sampler died"))
    job = r.run()
    assert job.status == JobStatus.SUCCEEDED and job.metrics_partial and job.warnings == ["sampler died"]


def test_a_second_delivery_of_the_same_job_does_nothing(rig):
    r = rig(warmup=0, repetitions=1)
    r.run()
    created = list(r.engine.created)
    assert r.executor.execute(JOB) is None
    assert r.engine.created == created and r.events().count(EventType.STARTED) == 1


# ---------------------------------------------------------------- fencing: a worker that lost its lease
def _publisher(r: Rig) -> RecordingPublisher:
    assert isinstance(r.executor.publisher, RecordingPublisher)
    return r.executor.publisher


def test_a_failure_from_a_container_event_is_not_overwritten_by_the_stale_workers_final_write(rig, tmp_path):
    r = rig(warmup=0, repetitions=1)

    def lease_runs_out_and_salt_reports_an_oom(c: FakeContainer) -> None:
        r.repo.update(JOB, lambda j: setattr(j, "lease_until", 1.0))  # the worker missed its renewals
        record_container_event(r.repo, {"job_id": JOB, "container_id": c.id, "action": "oom", "oom_killed": True,
                                        "host_id": "h1"})

    r.engine.behaviours = Behaviour(stdout=b'{"v": 1}\n', files={"/results/out.json": b"{}"},
                                    on_start=lease_runs_out_and_salt_reports_an_oom)
    assert r.executor.execute(JOB) is None  # the worker's outcome is discarded...

    job = r.repo.get(JOB)
    assert job.status == JobStatus.FAILED and job.reason == "oom-killed"  # ...and the reactor's stays
    assert job.repetitions == [] and r.events()[-1] == EventType.FAILED
    assert _publisher(r).repetitions == [] and _publisher(r).jobs == []  # nothing of it reaches the store
    assert r.engine.containers == {} and not (tmp_path / "results" / JOB / "attempt1").exists()


def test_a_worker_whose_job_was_queued_again_and_claimed_stops_its_container_and_keeps_nothing(rig, tmp_path):
    r = rig(warmup=0, repetitions=2, timeout_s=3600)
    reaper = Reaper(r.repo, _Broker(), None, clock=r.clock)

    def worker_pauses_past_its_lease_and_another_takes_over(c: FakeContainer) -> None:
        r.clock.advance(31)  # no renewal for longer than the 30 s lease
        assert reaper.sweep() == [JOB]  # queued again...
        assert r.repo.claim(JOB, "w2", "h2", lease_s=30, max_attempts=3) is not None  # ...and taken by w2

    r.engine.behaviours = Behaviour(runtime_s=3600, stdout=b'{"v": 1}\n', files={"/results/out.json": b"{}"},
                                    on_start=worker_pauses_past_its_lease_and_another_takes_over)
    t0 = r.clock.monotonic()
    assert r.executor.execute(JOB) is None

    assert r.clock.monotonic() - t0 < 31 + r.executor.config.renew_every_s + 1  # stopped at its next renewal
    assert r.engine.containers == {} and len(r.engine.created) == 1  # its container stopped, no second one
    job = r.repo.get(JOB)
    assert job.status == JobStatus.RUNNING and job.worker_id == "w2" and job.attempts == 2
    assert job.repetitions == [] and EventType.REPETITION_FINISHED not in r.events()
    assert _publisher(r).repetitions == [] and _publisher(r).jobs == []
    assert not (tmp_path / "results" / JOB / "attempt1").exists()


def test_a_job_waiting_for_a_busy_host_renews_its_lease_and_gives_up_with_a_clear_error(rig, tmp_path):
    r = rig(warmup=0, repetitions=1, config={"slot_timeout_s": 60.0, "lease_s": 30.0, "renew_every_s": 5.0})
    renewals = []
    renew = r.repo.renew_lease
    r.repo.renew_lease = lambda lease, lease_s: (renewals.append(r.clock.monotonic()), renew(lease, lease_s))[1]
    with _slot_held(tmp_path / "locks"):
        job = r.run()
    assert job.status == JobStatus.FAILED
    assert job.reason == f"every benchmark slot of this host (1) stayed taken for 60 s (held by pid {os.getpid()})"
    assert r.engine.created == []
    assert len(renewals) >= 60 / 5 - 1  # the lease never ran out while it waited


def test_a_job_lost_while_waiting_for_the_host_never_starts(rig, tmp_path):
    r = rig(warmup=0, repetitions=1)
    r.repo.renew_lease = _moving_on(r.repo)
    with _slot_held(tmp_path / "locks"):
        assert r.executor.execute(JOB) is None
    assert r.engine.created == [] and r.repo.get(JOB).status == JobStatus.QUEUED


class _Broker:
    def enqueue(self, job_id: str, queue: str, priority: int) -> str:
        return job_id


def _moving_on(repo: JobRepository) -> Any:
    """A renew_lease that finds the reaper queued the job again meanwhile."""
    renew = repo.renew_lease

    def requeued_then_renew(lease: Any, lease_s: float) -> bool:
        repo.update(JOB, lambda j: setattr(j, "status", JobStatus.QUEUED))
        return renew(lease, lease_s)

    return requeued_then_renew


@contextmanager
def _slot_held(lock_dir: Path) -> Iterator[None]:
    """The host's only slot, held by another benchmark (this process, through its own open file)."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "host.slot0.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield


# ---------------------------------------------------------------- results past the cap
def test_a_results_file_past_the_cap_fails_the_job_saying_it_was_cut(rig):
    big = b'{"ops": 7, "padding": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    r = rig(Behaviour(files={"/results/out.json": big}, stdout=b"y" * (65 * 1024)), warmup=0, repetitions=1,
            results={"format": "json-file", "path": "/results/out.json"})
    job = r.run()
    assert job.status == JobStatus.FAILED
    assert job.reason.endswith("(results files cut at the 16 MiB cap: /results/out.json; "
                               "the logs kept in the record are only their last 64 KiB)")
    assert job.repetitions[0].results_cut == ["/results/out.json"] and job.repetitions[0].logs_truncated


def test_results_cut_but_still_parsed_leave_a_warning(rig):
    r = rig(Behaviour(files={"/results/a.json": b'{"ops": 7}', "/results/b.bin": b"z" * 64}), warmup=0,
            repetitions=1, results={"format": "json-file", "path": "/results/a.json"})
    r.executor.runner.results_limit_bytes = 32
    job = r.run()
    assert job.status == JobStatus.SUCCEEDED and job.repetitions[0].metrics == {"ops": 7.0}
    assert job.warnings == ["repetition 0: results files cut at the runner's cap: /results/b.bin"]
