"""The container runner against a fake engine on a fake clock: completion, timeout, cancel, cleanup."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest

from benchfarm.clock import FakeClock
from benchfarm.errors import ServiceUnavailableError
from benchfarm.jobs.model import MAX_LOG_BYTES
from benchfarm.runner.container_spec import ContainerSpec
from benchfarm.runner.runner import OOM_SETTLE_S, ContainerRunner, read_result_files
from tests.support.fake_engine import KILLED_EXIT_CODE, Behaviour, FakeEngine


@pytest.fixture(autouse=True)
def _no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(seconds: float) -> None:
        raise AssertionError(f"a unit test slept {seconds} s for real; use the fake clock")

    monkeypatch.setattr(time, "sleep", refuse)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _cs(tmp_path: Path, name: str = "bf-job-1-r0") -> ContainerSpec:
    return ContainerSpec(image="img", command=["run"], name=name, labels={"benchfarm.job_id": "job-1"},
                         results_dir=tmp_path / "results")


def test_a_container_runs_to_completion_and_is_removed(tmp_path: Path, clock: FakeClock):
    engine = FakeEngine(clock, Behaviour(runtime_s=2.0, stdout=b'{"ops": 1}\n', stderr=b"noise\n"))
    runner = ContainerRunner(engine, poll_s=0.5, clock=clock)
    created_at, t0 = clock.utcnow(), clock.monotonic()
    started: list[str] = []
    polls: list[float] = []

    out = runner.run(_cs(tmp_path), timeout_s=60, on_started=started.append,
                     on_poll=lambda: polls.append(clock.monotonic()))

    assert out.exit_code == 0 and not out.timed_out and not out.cancelled and not out.oom_killed
    assert out.stdout == '{"ops": 1}\n' and out.logs == '{"ops": 1}\nnoise\n' and not out.logs_truncated
    assert out.created_at == created_at
    assert out.started_at == created_at and (out.finished_at - out.started_at).total_seconds() == 2.0
    assert started == [out.container_id]
    assert polls == [t0 + 0.5, t0 + 1.0, t0 + 1.5, t0 + 2.0]  # one poll per wait, on the fake clock
    assert engine.containers == {} and engine.removed == [out.container_id]


def test_a_run_past_its_timeout_is_killed(tmp_path: Path, clock: FakeClock):
    engine = FakeEngine(clock, Behaviour(runtime_s=3600))
    t0 = clock.monotonic()

    out = ContainerRunner(engine, poll_s=0.5, clock=clock).run(_cs(tmp_path), timeout_s=10)

    assert out.timed_out and out.exit_code == KILLED_EXIT_CODE
    assert engine.killed == [out.container_id] and engine.containers == {}
    assert clock.monotonic() - t0 == pytest.approx(10.0)  # killed at the deadline, not when it would end


def test_a_cancel_request_kills_the_container(tmp_path: Path, clock: FakeClock):
    engine = FakeEngine(clock, Behaviour(runtime_s=3600))
    t0 = clock.monotonic()

    out = ContainerRunner(engine, poll_s=0.5, clock=clock).run(
        _cs(tmp_path), timeout_s=600, should_cancel=lambda: clock.monotonic() - t0 >= 3)

    assert out.cancelled and not out.timed_out
    assert engine.killed == [out.container_id] and engine.containers == {}
    assert clock.monotonic() - t0 == pytest.approx(3.0)


def test_oom_kill_is_reported(tmp_path: Path, clock: FakeClock):
    engine = FakeEngine(clock, Behaviour(exit_code=137, oom_killed=True))
    out = ContainerRunner(engine, clock=clock).run(_cs(tmp_path), timeout_s=60)
    assert out.oom_killed and out.exit_code == 137 and not out.timed_out


def test_an_oom_flag_the_engine_sets_after_the_exit_is_still_reported(tmp_path: Path, clock: FakeClock):
    engine = FakeEngine(clock, Behaviour(exit_code=137, oom_killed=True, oom_flag_late_s=0.35))
    out = ContainerRunner(engine, clock=clock).run(_cs(tmp_path), timeout_s=60)
    assert out.oom_killed and out.exit_code == 137
    assert 0.35 <= out.phases["inspect"] < 0.5  # it waited for the flag, and no longer


def test_a_sigkill_that_was_no_oom_kill_waits_only_the_settle_time(tmp_path: Path, clock: FakeClock):
    engine = FakeEngine(clock, Behaviour(exit_code=137, oom_killed=False))
    out = ContainerRunner(engine, clock=clock).run(_cs(tmp_path), timeout_s=60)
    assert not out.oom_killed and out.exit_code == 137
    assert out.phases["inspect"] == pytest.approx(OOM_SETTLE_S, abs=0.11)


def test_a_clean_exit_does_not_wait_for_an_oom_flag(tmp_path: Path, clock: FakeClock):
    out = ContainerRunner(FakeEngine(clock, Behaviour(exit_code=1)), clock=clock).run(_cs(tmp_path), timeout_s=60)
    assert out.exit_code == 1 and out.phases["inspect"] == 0.0


def test_result_files_are_read_and_the_results_dir_starts_empty(tmp_path: Path, clock: FakeClock):
    engine = FakeEngine(clock, [Behaviour(files={"/results/a.json": b"{}", "/results/sub/b.txt": b"x"}),
                                Behaviour(files={"/results/c.json": b"[]"})])
    runner = ContainerRunner(engine, clock=clock)
    first = runner.run(_cs(tmp_path), timeout_s=60)
    second = runner.run(_cs(tmp_path), timeout_s=60)
    assert first.result_files == {"/results/a.json": b"{}", "/results/sub/b.txt": b"x"}
    assert "/results/a.json" not in second.result_files and second.result_files["/results/c.json"] == b"[]"


def test_long_logs_keep_their_tail(tmp_path: Path, clock: FakeClock):
    engine = FakeEngine(clock, Behaviour(stderr=b"a" * MAX_LOG_BYTES + b"END"))
    out = ContainerRunner(engine, clock=clock).run(_cs(tmp_path), timeout_s=60)
    assert out.logs_truncated and len(out.logs) == MAX_LOG_BYTES and out.logs.endswith("END")


def test_a_reused_container_reports_only_what_each_run_added(tmp_path: Path, clock: FakeClock):
    engine = FakeEngine(clock, [Behaviour(stdout=b"one\n"), Behaviour(stdout=b"two\n")])
    runner = ContainerRunner(engine, clock=clock)
    first = runner.run(_cs(tmp_path), timeout_s=60, keep_container=True)
    second = runner.run(_cs(tmp_path), timeout_s=60, keep_container=True, reuse=first.container_id)
    assert (first.stdout, second.stdout) == ("one\n", "two\n")
    assert second.container_id == first.container_id and engine.created == [first.container_id]
    assert first.container_id in engine.containers  # kept: the executor removes it after the last repetition


def test_an_engine_failure_mid_run_still_removes_the_container(tmp_path: Path, clock: FakeClock):
    engine = FakeEngine(clock, Behaviour(runtime_s=3600))
    engine.fail["wait"] = ServiceUnavailableError("the engine went away")
    with pytest.raises(ServiceUnavailableError):
        ContainerRunner(engine, clock=clock).run(_cs(tmp_path), timeout_s=60, keep_container=True)
    assert engine.containers == {} and len(engine.removed) == 1  # a fresh container is never left behind


def test_a_results_file_is_read_no_further_than_the_cap(tmp_path: Path):
    results = tmp_path / "results"
    results.mkdir()
    with open(results / "big.json", "wb") as f:  # 64 MiB the benchmark wrote (sparse: no disk used)
        f.truncate(64 * 1024 * 1024)
    (results / "z-after.json").write_bytes(b"{}")
    tracemalloc.start()
    try:
        got = read_result_files(results, limit_bytes=1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # streamed up to the cap: the 64 MiB were never in memory
    assert got.files == {"/results/big.json": bytes(1024), "/results/z-after.json": b""}
    assert got.cut == ["/results/big.json", "/results/z-after.json"]


def test_results_under_the_cap_are_whole_and_links_fifos_are_skipped(tmp_path: Path):
    results = tmp_path / "results"
    (results / "sub").mkdir(parents=True)
    (results / "a.json").write_bytes(b'{"ops": 1}')
    (results / "sub" / "b.txt").write_bytes(b"x" * 10)
    (results / "link").symlink_to("/etc/hostname")
    os.mkfifo(results / "pipe")  # opened without O_NONBLOCK, it would hang the worker
    got = read_result_files(results, limit_bytes=20)
    assert got.files == {"/results/a.json": b'{"ops": 1}', "/results/sub/b.txt": b"x" * 10} and got.cut == []


def test_the_outcome_says_which_results_files_were_cut(tmp_path: Path, clock: FakeClock):
    engine = FakeEngine(clock, Behaviour(files={"/results/out.json": b"[" + b"1," * 100 + b"1]"}))
    out = ContainerRunner(engine, clock=clock, results_limit_bytes=64).run(_cs(tmp_path), timeout_s=60)
    assert len(out.result_files["/results/out.json"]) == 64 and out.result_files_cut == ["/results/out.json"]
