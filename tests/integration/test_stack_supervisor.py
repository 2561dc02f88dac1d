"""The stack's supervisor on the real farm: a `kill -9` of the API, the worker, Redis, Elasticsearch or the
salt-master brings the service back by itself, nothing accepted is lost, and the farm runs a job afterwards.

Elasticsearch's pid file holds its launcher; the process that serves (and that an OOM killer would pick) is
the server JVM it starts, so that is the one killed; for the others it is the service's own process.
"""

from __future__ import annotations

import contextlib
import time

import psutil
import pytest

from benchfarm.client import ApiClient
from benchfarm.stack.stack import Stack
from benchfarm.stack.supervisor import read_state
from tests.integration.jobs_support import busybox_spec, dump, wait_final

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVICES = ["api", "worker", "redis", "salt-master", "elasticsearch"]


@pytest.fixture(scope="module")
def api(farm: Stack, settings) -> ApiClient:
    return ApiClient.from_settings(settings)


def _victim(stack: Stack, name: str) -> psutil.Process:
    pid = stack.service(name).process.pid
    assert pid is not None, f"{name} is not run by the stack: nothing to supervise"
    proc = psutil.Process(pid)
    if name == "elasticsearch":
        (server,) = [c for c in proc.children() if "java" in c.name()]
        return server
    return proc


def _restarts(stack: Stack, name: str) -> int:
    state = read_state(stack.service("supervisor").state_file)  # type: ignore[attr-defined]
    return state.restarts.get(name, 0) if state else 0


def _back(stack: Stack, name: str, old_pid: int, restarts_before: int, timeout_s: float) -> float:
    """Seconds until ``name`` is healthy again under a new pid, restarted by the supervisor."""
    started = time.monotonic()
    svc = stack.service(name)
    while True:
        status = svc.status()
        if status.healthy and status.pid not in (None, old_pid) and _restarts(stack, name) == restarts_before + 1:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout_s, f"{name} not back within {timeout_s:.0f} s: {status}"
        time.sleep(0.5)


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_killed_with_sigkill_comes_back_by_itself(farm: Stack, api: ApiClient, busybox_image: str,
                                                           name: str) -> None:
    assert farm.service("supervisor").status().healthy, "the supervisor is not running"
    restarts_before = _restarts(farm, name)
    # accepted before the kill, held in the queue (no host has this pool): it must still be there after
    held = api.submit(busybox_spec(busybox_image, "echo '{\"value\": 1}'", requirements={"pool": "nobody-has-it"}),
                      queue_anyway=True)["id"]
    try:
        main_pid = farm.service(name).process.pid
        assert main_pid is not None
        _victim(farm, name).kill()
        took = _back(farm, name, main_pid, restarts_before, timeout_s=240 if name == "elasticsearch" else 90)
        print(f"{name} back {took:.1f} s after kill -9")
        deadline = time.monotonic() + 60  # the API may still be finding Redis again
        while True:
            with contextlib.suppress(Exception):
                if api.job(held)["status"] == "queued":
                    break
            assert time.monotonic() < deadline, f"job {held}, accepted before the kill, is not queued"
            time.sleep(0.5)
        job = wait_final(api, api.submit(busybox_spec(busybox_image, "echo '{\"value\": 2}'"))["id"], timeout_s=180)
        assert job["status"] == "succeeded" and job["repetitions"][-1]["metrics"] == {"value": 2.0}, dump(job)
    finally:
        with contextlib.suppress(Exception):
            api.cancel(held)
