"""The runner's phases: each step of a run timed on the runner's clock, for the end-to-end breakdown."""

from __future__ import annotations

from pathlib import Path

from benchfarm.clock import FakeClock
from benchfarm.runner.container_spec import ContainerSpec
from benchfarm.runner.runner import ContainerRunner
from tests.support.fake_engine import Behaviour, FakeEngine


def test_each_step_of_a_run_is_timed_and_the_run_phase_holds_the_containers_time(tmp_path: Path):
    clock = FakeClock()
    engine = FakeEngine(clock, Behaviour(runtime_s=2.0, stdout=b'{"ops": 1}\n'))
    runner = ContainerRunner(engine, poll_s=0.5, clock=clock)

    out = runner.run(ContainerSpec(image="img", command=["true"], name="bf-job-1-r0", results_dir=tmp_path / "r"),
                     timeout_s=60, on_started=lambda _cid: clock.advance(0.25))

    assert list(out.phases) == ["prepare", "create", "start", "collectors_start", "run", "inspect", "logs",
                                "results", "remove"]
    assert out.phases["collectors_start"] == 0.25  # what on_started took
    assert out.phases["run"] == 1.75  # the rest of the container's 2 s, seen by the waits
    assert out.phases["create"] == out.phases["remove"] == 0.0  # the fake engine takes no time


def test_a_container_that_exited_is_not_waited_for_twice(tmp_path: Path):
    clock = FakeClock()
    engine = FakeEngine(clock, Behaviour(runtime_s=0.1))
    waits: list[str] = []
    real_wait = engine.wait

    def counting_wait(container_id: str, timeout: float) -> int | None:
        waits.append(container_id)
        return real_wait(container_id, timeout)

    engine.wait = counting_wait  # type: ignore[method-assign]
    ContainerRunner(engine, poll_s=0.5, clock=clock).run(
        ContainerSpec(image="img", command=["true"], name="bf-job-2-r0"), timeout_s=60)
    assert len(waits) == 1
