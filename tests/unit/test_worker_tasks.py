"""The run_job task's checks before it claims: a host whose engine is down leaves the job queued."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from benchfarm.errors import ServiceUnavailableError
from benchfarm.worker import tasks


class FakeEngine:
    def __init__(self, up: bool) -> None:
        self.up = up

    def ping(self) -> bool:
        if not self.up:
            raise ServiceUnavailableError("the Docker engine at unix:///run/docker.sock is not answering")
        return True


def _farm(engine_up: bool, executed: list[str]) -> Any:
    def execute(job_id: str) -> Any:
        executed.append(job_id)
        return SimpleNamespace(status=SimpleNamespace(value="succeeded"))

    return SimpleNamespace(
        settings=SimpleNamespace(minion_id="node-7"),
        host_registry=SimpleNamespace(refusal=lambda host: None),
        share_gate=SimpleNamespace(step_back=lambda job_id, retries: None),
        engine=FakeEngine(engine_up),
        executor=SimpleNamespace(execute=execute),
    )


def test_a_host_whose_engine_is_down_does_not_claim_the_job(monkeypatch: pytest.MonkeyPatch):
    executed: list[str] = []
    monkeypatch.setattr(tasks, "process_farm", lambda: _farm(False, executed))
    # called directly (not in a worker), Celery's retry raises the reason instead of re-sending the message
    with pytest.raises(RuntimeError, match=r"host node-7: the Docker engine .* not answering; the job stays queued"):
        tasks.run_job("job-1")
    assert executed == []


def test_a_host_whose_engine_answers_runs_the_job(monkeypatch: pytest.MonkeyPatch):
    executed: list[str] = []
    monkeypatch.setattr(tasks, "process_farm", lambda: _farm(True, executed))
    assert tasks.run_job("job-2") == "succeeded"
    assert executed == ["job-2"]
