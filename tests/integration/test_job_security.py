"""A job submitter's attacks on the farm, on the real API, worker, Redis and Docker engine: host
networking to reach the farm's Redis, a fork bomb and a memory bomb.

The containment tests run their jobs on a worker of their own (``policy_worker``): the real
`benchfarm worker run` in a pool of its own, whose host policy sets small default limits
(64 pids, 48 MiB) through the settings' environment variables, so the jobs ask for no limit
and the host's defaults alone must contain them. The worker shares this machine's host lock
with the stack's worker, as any second worker on one host would. Each bomb checks its own
cgroup first and exits 3 without bombing when there is no limit, so the tests fail, not the
host, where the limits are missing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchfarm.adapters.redis_store import RedisKV
from benchfarm.client import ApiClient
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.settings import Settings
from tests.integration.jobs_support import busybox_spec, cli, dump, wait_final, write_spec

pytestmark = pytest.mark.integration

POLICY_HOST = f"sec-{uuid.uuid4().hex[:6]}"  # its host id and its pool
PIDS_LIMIT = 64
MEMORY_LIMIT = 48 << 20
CGROUP_V1 = Path("/sys/fs/cgroup")


@pytest.fixture(scope="module")
def api(farm, settings) -> ApiClient:
    return ApiClient.from_settings(settings)


@pytest.fixture(scope="module")
def policy_worker(farm, settings: Settings, tmp_path_factory) -> Iterator[str]:
    """A real worker for host ``POLICY_HOST`` in pool ``POLICY_HOST``, with small default limits; its pool's name."""
    log = tmp_path_factory.mktemp("policy-worker") / "worker.log"
    env = {**os.environ, "BENCHFARM_MINION_ID": POLICY_HOST, "BENCHFARM_POOL": POLICY_HOST,
           "BENCHFARM_DEFAULT_PIDS_LIMIT": str(PIDS_LIMIT), "BENCHFARM_DEFAULT_MEMORY": str(MEMORY_LIMIT),
           "BENCHFARM_MAX_MEMORY": "64m"}
    registry = HostRegistry(RedisKV.from_settings(settings))
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "benchfarm.cli.main", "worker", "run"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while POLICY_HOST not in registry.workers_seen():
            assert proc.poll() is None, f"the policy worker exited {proc.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the policy worker never registered:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)
        yield POLICY_HOST
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the Celery worker, its pool and housekeeper
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        registry.remove(POLICY_HOST)
        redis = RedisKV.from_settings(settings).raw
        for key in redis.scan_iter(match=f"pool.{POLICY_HOST}*"):
            redis.delete(key)


@pytest.fixture
def job_containers(docker_client) -> Iterator[list[str]]:
    """Job ids whose containers are force-removed after the test, whatever it left."""
    job_ids: list[str] = []
    yield job_ids
    for job_id in job_ids:
        for c in docker_client.containers.list(all=True, filters={"label": f"benchfarm.job_id={job_id}"}):
            c.remove(force=True)


def _on(pool: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {**spec, "requirements": {"pool": pool}}


def _running_container(docker_client, job_id: str, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := docker_client.containers.list(filters={"label": f"benchfarm.job_id={job_id}"})):
        assert time.monotonic() < deadline, f"job {job_id}: no container running after {timeout_s}s"
        time.sleep(0.1)
    return found[0]


def _cgroup(controller: str, container_id: str, name: str) -> str:
    """A cgroup v1 file of a container, read from the host (the engine's cgroupfs driver: docker/<id>)."""
    return (CGROUP_V1 / controller / "docker" / container_id / name).read_text().strip()


def _api_answers_quickly(api: ApiClient, job_id: str) -> float:
    started = time.monotonic()
    api.job(job_id)
    return time.monotonic() - started


# ---------------------------------------------------------------------------- network
REDIS_PING = "printf 'PING\\r\\n' | nc -w 2 127.0.0.1 16379"


@pytest.mark.parametrize("overrides,needle", [
    ({"network": "host"}, "network 'host'"),
    ({"network": "bridge"}, "network 'bridge'"),
    ({"resources": {"pids": 100000}}, "pids limit of 100000"),
])
def test_what_no_host_policy_allows_is_refused_at_submit(api, busybox_image, overrides, needle):
    resp = api.http.post("/jobs", json=busybox_spec(busybox_image, REDIS_PING, **overrides))
    assert resp.status_code == 409, resp.text
    error = resp.json()["error"]
    assert needle in error and "no registered host has a policy allowing" in error, error


def test_host_network_is_refused_by_the_cli_with_what_to_do(farm, busybox_image, tmp_path):
    res = cli("submit", str(write_spec(tmp_path, busybox_spec(busybox_image, REDIS_PING, network="host"))))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "network 'host'" in res.stderr and "allowed networks: none" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_host_network_queued_anyway_is_refused_on_the_host_before_any_container(api, policy_worker, busybox_image,
                                                                               docker_client, job_containers):
    spec = _on(policy_worker, busybox_spec(busybox_image, REDIS_PING, network="host", timeout_s=10))
    job_id = api.submit(spec, queue_anyway=True)["id"]
    job_containers.append(job_id)
    job = wait_final(api, job_id, timeout_s=120)
    assert job["status"] == "failed", dump(job)
    assert f"network host is not allowed on host {policy_worker} (allowed: none)" in job["reason"], dump(job)
    assert job["repetitions"] == [], "no container may have run"
    assert "+PONG" not in dump(job)


# ---------------------------------------------------------------------------- fork bomb
FORK_BOMB = ('echo "pids.max $(cat /sys/fs/cgroup/pids/pids.max)" >&2; '
             '[ "$(cat /sys/fs/cgroup/pids/pids.max)" = max ] && { echo "no pids limit: no bomb" >&2; exit 3; }; '
             'b(){ b|b& }; (b) & exec sleep 60')


def test_a_fork_bomb_hits_the_hosts_default_pids_limit_and_the_host_stays_responsive(
        api, policy_worker, busybox_image, docker_client, job_containers):
    job_id = api.submit(_on(policy_worker, busybox_spec(busybox_image, FORK_BOMB, timeout_s=6)))["id"]
    job_containers.append(job_id)
    container = _running_container(docker_client, job_id)
    try:
        assert _cgroup("pids", container.id, "pids.max") == str(PIDS_LIMIT)
        deadline = time.monotonic() + 5
        while int(_cgroup("pids", container.id, "pids.events").split()[1]) == 0:  # "max N": forks refused
            assert time.monotonic() < deadline, "the bomb never reached the limit"
            time.sleep(0.1)
        assert int(_cgroup("pids", container.id, "pids.current")) <= PIDS_LIMIT
    except FileNotFoundError:
        pytest.fail(f"job {job_id}: its container ended before the check: {dump(api.job(job_id))}")
    assert _api_answers_quickly(api, job_id) < 2.0, "the farm's API must answer while the bomb runs"
    job = wait_final(api, job_id, timeout_s=60)
    assert job["status"] == "failed" and job["reason"] == "timeout", dump(job)
    rep = job["repetitions"][0]
    assert rep["timed_out"] is True and f"pids.max {PIDS_LIMIT}" in rep["logs"] and "can't fork" in rep["logs"]
    assert _api_answers_quickly(api, job_id) < 2.0
    assert docker_client.containers.list(all=True, filters={"label": f"benchfarm.job_id={job_id}"}) == []


# ---------------------------------------------------------------------------- memory bomb
MEMORY_CHECK = ('limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes); echo "memory limit $limit" >&2; '
                '[ "$limit" -gt 1073741824 ] && { echo "no memory limit: no bomb" >&2; exit 3; }; ')


@pytest.mark.parametrize("bomb", [
    "head -c 2000m /dev/zero | tail",                        # a process growing without bound
    "dd if=/dev/zero of=/tmp/fill bs=1M count=200",          # /tmp is a 256 MiB tmpfs, charged to the container
], ids=["process", "tmpfs"])
def test_a_memory_bomb_is_oom_killed_inside_the_hosts_default_limit(api, policy_worker, busybox_image,
                                                                   docker_client, job_containers, bomb):
    job_id = api.submit(_on(policy_worker, busybox_spec(busybox_image, MEMORY_CHECK + bomb, timeout_s=20)))["id"]
    job_containers.append(job_id)
    job = wait_final(api, job_id, timeout_s=120)
    assert job["status"] == "failed" and job["reason"] == "oom-killed", dump(job)
    rep = job["repetitions"][0]
    assert rep["oom_killed"] is True and f"memory limit {MEMORY_LIMIT}" in rep["logs"], dump(job)
    assert _api_answers_quickly(api, job_id) < 2.0
    assert docker_client.containers.list(all=True, filters={"label": f"benchfarm.job_id={job_id}"}) == []


def test_a_job_may_ask_for_less_than_the_default_and_no_more_than_the_hosts_maximum(api, policy_worker,
                                                                                    busybox_image, job_containers):
    script = ('echo "{\\"pids\\": $(cat /sys/fs/cgroup/pids/pids.max), '
              '\\"memory\\": $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes), '
              '\\"memsw\\": $(cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo 0)}"')
    metrics = {m: {"unit": "count", "direction": "higher"} for m in ("pids", "memory", "memsw")}
    spec = _on(policy_worker, busybox_spec(busybox_image, script, resources={"pids": 32, "memory": "24m"},
                                           results={"format": "json-lines", "metrics": metrics}))
    job_id = api.submit(spec)["id"]
    job_containers.append(job_id)
    job = wait_final(api, job_id, timeout_s=120)
    assert job["status"] == "succeeded", dump(job)
    m = job["repetitions"][0]["metrics"]
    assert (m["pids"], m["memory"]) == (32, 24 << 20)
    assert m["memsw"] in (0, 24 << 20), "no swap beyond the memory limit"
    resp = api.http.post("/jobs", json={**spec, "resources": {"memory": "128m"}})  # above the host's 64m
    assert resp.status_code == 409 and "memory limit of 128 MiB" in resp.json()["error"], resp.text
