"""The worker's collectors attach beside the container, off the job's path: the runner goes on at once,
and stopping waits for the attach (a slow engine answering the container's pid holds nothing up)."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from benchfarm.execution.publishing import telemetry_factory
from benchfarm.jobs.model import JobRecord
from benchfarm.settings import Settings


class RecordingWriter:
    """The store writer's surface the metric sink uses: it keeps what it is given."""

    names: ClassVar[dict[str, str]] = {"metrics": "bf-test-metrics"}

    def __init__(self) -> None:
        self.actions: list[dict[str, Any]] = []

    def write(self, actions: list[dict[str, Any]]) -> Any:
        self.actions.extend(actions)
        return type("Outcome", (), {"spooled": 0, "dead_lettered": 0})()


def test_start_returns_before_the_pid_is_known_and_stop_waits_for_the_attach(tmp_path):
    asked, answer = threading.Event(), threading.Event()

    def slow_pid(container_id: str) -> int | None:
        asked.set()
        assert answer.wait(30), "the test never answered"
        return None  # no such container: the cgroup collector is unavailable, the host collector samples

    start = telemetry_factory(Settings(state_dir=tmp_path, sample_interval_s=0.1), RecordingWriter(),
                              container_pid=slow_pid)
    session = start(JobRecord(id="job-1", spec={"name": "t"}), 0, "c" * 64, None)
    assert asked.wait(30)  # the attach is under way, and start() has already returned
    assert session.sampler is None
    answer.set()
    report = session.stop()
    assert report.warning is None and not report.partial
    assert report.samples_taken is not None and report.sampler_cpu_seconds is not None


def test_an_attach_that_fails_is_reported_by_stop_and_the_run_goes_on(tmp_path):
    def broken_pid(container_id: str) -> int | None:
        raise RuntimeError("engine on fire")

    start = telemetry_factory(Settings(state_dir=tmp_path), RecordingWriter(), container_pid=broken_pid)
    report = start(JobRecord(id="job-2", spec={"name": "t"}), 0, "c" * 64, None).stop()
    assert report.partial and "engine on fire" in (report.warning or "")
