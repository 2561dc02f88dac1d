"""Faults on the real farm: a worker SIGKILLed mid-job, Redis restarted after a 202, duplicate
delivery, priorities and real device pass-through (the API's fuzz run is in test_api_fuzz.py)."""

from __future__ import annotations

import os
import signal
import stat
import time
import uuid
from pathlib import Path

import psutil
import pytest

from benchfarm.adapters.celery_app import CeleryDispatcher
from benchfarm.adapters.docker_engine import ContainerEngine
from benchfarm.adapters.redis_store import RedisKV
from benchfarm.client import ApiClient
from benchfarm.execution.executor import ExecutorConfig, JobExecutor
from benchfarm.jobs.model import JobRecord, JobStatus
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.spec.loader import load_spec_data
from tests.integration.jobs_support import busybox_spec, dump, event_types, wait_final, wait_status

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(farm, settings) -> ApiClient:
    return ApiClient.from_settings(settings)


@pytest.fixture
def worker(farm):
    """The stack's worker service; restarted after the test whatever it did to it."""
    svc = farm.service("worker")
    yield svc
    svc.up(lambda m: None)


def _kill_tree(pid: int) -> None:
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    for p in procs:
        p.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)


def test_worker_sigkilled_mid_job_the_job_is_run_again_not_left_running(api, worker, busybox_image, docker_client):
    job_id = api.submit(busybox_spec(busybox_image, "sleep 4; echo '{\"value\": 1}'", timeout_s=60))["id"]
    wait_status(api, job_id, "running")
    deadline = time.monotonic() + 30
    while not docker_client.containers.list(filters={"label": f"benchfarm.job_id={job_id}"}):
        assert time.monotonic() < deadline, "the job's container never started"
        time.sleep(0.2)
    _kill_tree(worker.process.pid)
    assert api.job(job_id)["status"] == "running"  # nobody has noticed yet
    worker.up(lambda m: None)  # a worker comes back; its reaper finds the expired lease
    job = wait_final(api, job_id, timeout_s=120)
    assert job["status"] == "succeeded", dump(job)
    assert job["attempts"] == 2
    assert "requeued" in event_types(api, job_id)
    assert docker_client.containers.list(all=True, filters={"label": f"benchfarm.job_id={job_id}"}) == []


def test_redis_restart_after_a_202_loses_no_job(api, farm, worker, busybox_image):
    worker.down()  # keep the job queued across the restart
    job_id = api.submit(busybox_spec(busybox_image, "echo '{\"value\": 5}'"))["id"]
    redis = farm.service("redis")
    assert redis.down() is True
    redis.up(lambda m: None)
    assert api.job(job_id)["status"] == "queued"  # the record survived (append-only file)
    worker.up(lambda m: None)  # and so did its Celery message
    job = wait_final(api, job_id, timeout_s=120)
    assert job["status"] == "succeeded", dump(job)
    assert job["repetitions"][0]["metrics"] == {"value": 5.0}


def test_a_message_delivered_twice_runs_the_job_once(api, settings, busybox_image):
    job_id = api.submit(busybox_spec(busybox_image, "sleep 1; echo '{\"value\": 1}'", repetitions=2))["id"]
    CeleryDispatcher(settings).enqueue(job_id, "pool.default", 5)  # a duplicate delivery
    job = wait_final(api, job_id)
    assert job["status"] == "succeeded", dump(job)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # give the duplicate time to be consumed and dropped
        if RedisKV.from_settings(settings).raw.llen("pool.default") == 0:
            break
        time.sleep(0.2)
    assert event_types(api, job_id).count("started") == 1
    assert len(api.job(job_id)["repetitions"]) == 2


def test_priorities_are_honoured(api, worker, busybox_image):
    worker.down()
    low = [api.submit(busybox_spec(busybox_image, "echo '{\"value\": 1}'", priority=1))["id"] for _ in range(2)]
    high = api.submit(busybox_spec(busybox_image, "echo '{\"value\": 1}'", priority=9))["id"]
    worker.up(lambda m: None)
    jobs = {j: wait_final(api, j) for j in [*low, high]}
    assert all(j["status"] == "succeeded" for j in jobs.values())
    assert jobs[high]["started_at"] < min(jobs[j]["started_at"] for j in low)


@pytest.fixture
def char_device():
    """A real character device node (same major/minor as /dev/zero) under a test name."""
    path = Path(f"/dev/bf-test-fpga-{uuid.uuid4().hex[:6]}")
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    yield path
    path.unlink(missing_ok=True)


def _executor(settings, caps: HostCapabilities, tmp_path: Path) -> tuple[JobExecutor, JobRepository]:
    repo = JobRepository(RedisKV.from_settings(settings))
    cfg = ExecutorConfig(worker_id=f"test-{uuid.uuid4().hex[:6]}", lock_dir=tmp_path / "locks",
                         results_root=tmp_path / "results")
    return JobExecutor(repo, ContainerEngine.from_settings(settings), caps, cfg), repo


def _record(spec_dict: dict, image_id: str) -> JobRecord:
    spec = load_spec_data(spec_dict)
    return JobRecord(id=f"job-test-{uuid.uuid4().hex[:10]}", spec=spec.model_dump(mode="json"), image_ref=spec.image,
                     image_digest=image_id, status=JobStatus.QUEUED)


def test_an_allowed_device_really_appears_inside_the_container(farm, settings, busybox_image, docker_client,
                                                               char_device, tmp_path):
    caps = HostCapabilities(host_id="test-host", cpu_count=2, memory_bytes=1 << 30,
                            allowed_devices=["/dev/bf-test-fpga-*"])
    executor, repo = _executor(settings, caps, tmp_path)
    script = ('test -c /dev/fpga0 && n=$(head -c 4096 /dev/fpga0 | wc -c) && '
              'echo "{\\"value\\": $n}"')
    spec = busybox_spec(busybox_image, script, devices=[{"host_path": str(char_device),
                                                         "container_path": "/dev/fpga0", "permissions": "r"}])
    job = repo.create(_record(spec, docker_client.images.get(busybox_image).id))
    final = executor.execute(job.id)
    assert final is not None and final.status == JobStatus.SUCCEEDED, dump(final.model_dump(mode="json"))
    assert final.repetitions[0].metrics == {"value": 4096.0}  # read 4096 bytes from the mapped device
    assert executor.execute(job.id) is None  # idempotent: a second delivery does nothing


def test_a_device_outside_the_allow_list_is_refused_before_any_container_starts(farm, settings, busybox_image,
                                                                               docker_client, char_device, tmp_path):
    caps = HostCapabilities(host_id="test-host", cpu_count=2, memory_bytes=1 << 30, allowed_devices=["/dev/nvidia*"])
    executor, repo = _executor(settings, caps, tmp_path)
    spec = busybox_spec(busybox_image, "cat /dev/fpga0", devices=[{"host_path": str(char_device),
                                                                   "container_path": "/dev/fpga0"}])
    job = repo.create(_record(spec, docker_client.images.get(busybox_image).id))
    final = executor.execute(job.id)
    assert final.status == JobStatus.FAILED and "not on the allow-list" in final.reason
    assert final.repetitions == []
    assert docker_client.containers.list(all=True, filters={"label": f"benchfarm.job_id={job.id}"}) == []
