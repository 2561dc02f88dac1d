"""The stack's supervisor: restarts a dead service, leaves one stopped on purpose or never seen, gives up past
its restart limit (a fake clock and fake services; the real kill -9 cases are in tests/integration)."""

from __future__ import annotations

from pathlib import Path

from benchfarm.clock import FakeClock
from benchfarm.errors import SetupError
from benchfarm.stack.supervisor import RestartLimit, Supervisor, read_state


class FakeService:
    def __init__(self, name: str, alive: bool = True) -> None:
        self.name = name
        self.alive = alive
        self.stopped = False
        self.restarts = 0
        self.fail_restart = False

    def running(self) -> bool:
        return self.alive

    def stopped_on_purpose(self) -> bool:
        return self.stopped

    def restart(self) -> None:
        self.restarts += 1
        if self.fail_restart:
            raise SetupError(f"{self.name} did not become ready")
        self.alive = True


def _supervisor(*services: FakeService, tmp_path: Path, burst: int = 3) -> tuple[Supervisor, FakeClock]:
    clock = FakeClock()
    return Supervisor(list(services), limit=RestartLimit(burst, 60.0), clock=clock,
                      state_file=tmp_path / "state.json", progress=lambda _line: None), clock


def test_a_service_that_dies_is_started_again(tmp_path: Path) -> None:
    api, redis = FakeService("api"), FakeService("redis")
    sup, _ = _supervisor(api, redis, tmp_path=tmp_path)
    assert sup.tick() == []
    api.alive = False
    assert sup.tick() == ["api: restarted"]
    assert api.alive and api.restarts == 1 and redis.restarts == 0
    state = read_state(tmp_path / "state.json")
    assert state is not None and state.restarts == {"api": 1} and state.summary() == "restarted api 1x"


def test_a_service_stopped_on_purpose_stays_stopped_until_it_runs_again(tmp_path: Path) -> None:
    api = FakeService("api")
    sup, _ = _supervisor(api, tmp_path=tmp_path)
    sup.tick()
    api.alive, api.stopped = False, True
    assert sup.tick() == [] and api.restarts == 0
    api.alive, api.stopped = True, False  # `stack up --only api`
    sup.tick()
    api.alive = False  # and now it dies
    assert sup.tick() == ["api: restarted"]


def test_a_service_never_seen_running_is_not_started(tmp_path: Path) -> None:
    worker = FakeService("worker", alive=False)  # switched off, or run by someone else
    sup, _ = _supervisor(worker, tmp_path=tmp_path)
    assert sup.tick() == [] and worker.restarts == 0


def test_past_the_restart_limit_it_gives_up_and_says_so(tmp_path: Path) -> None:
    api = FakeService("api")
    sup, clock = _supervisor(api, tmp_path=tmp_path, burst=2)
    sup.tick()
    for _ in range(2):
        api.alive = False
        assert sup.tick() == ["api: restarted"]
        clock.advance(1)
    api.alive = False
    (line,) = sup.tick()
    assert "died 3 times within 60 s" in line and "stack up --only api" in line
    assert sup.tick() == [] and api.restarts == 2
    state = read_state(tmp_path / "state.json")
    assert state is not None and "GAVE UP on api" in state.summary()
    api.alive = True  # an operator brought it back: supervised again
    sup.tick()
    assert sup.state.gave_up == {}


def test_restarts_older_than_the_window_do_not_count(tmp_path: Path) -> None:
    api = FakeService("api")
    sup, clock = _supervisor(api, tmp_path=tmp_path, burst=2)
    sup.tick()
    for _ in range(4):
        api.alive = False
        assert sup.tick() == ["api: restarted"]
        clock.advance(61)
    assert api.restarts == 4


def test_a_failed_restart_is_reported_and_tried_again_next_tick(tmp_path: Path) -> None:
    es = FakeService("elasticsearch")
    sup, _ = _supervisor(es, tmp_path=tmp_path)
    sup.tick()
    es.alive, es.fail_restart = False, True
    assert sup.tick() == ["elasticsearch: restart failed: elasticsearch did not become ready"]
    es.fail_restart = False
    assert sup.tick() == ["elasticsearch: restarted"]
