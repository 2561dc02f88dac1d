"""Reactors on the real farm: Docker OOM → Salt bus → reactor → API → job record, and the
health-check quarantine/release path. Real dockerd, salt-master/minion, API, Redis."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from benchfarm.composition import Farm
from benchfarm.jobs.model import EventType, JobRecord, JobStatus, new_job_id
from tests.integration.jobs_support import busybox_spec, cli, write_spec

pytestmark = pytest.mark.integration


def _poll(fn, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def orphan_running_job(settings, name: str) -> JobRecord:
    """A job recorded as running by a worker that is gone (no lease)."""
    repo = Farm(settings).repository
    job = JobRecord(id=new_job_id(), spec={"name": name}, status=JobStatus.RUNNING, worker_id="gone-worker:1",
                    host_id=settings.minion_id, lease_until=None, attempts=1)
    repo.create(job)
    return job


def test_oom_kill_reaches_job_record_through_reactor(farm, settings, docker_client, busybox_image, containers):
    repo = Farm(settings).repository
    job = orphan_running_job(settings, "salt-oom-reactor")
    container = docker_client.containers.run(
        busybox_image, ["sh", "-c", "x=aaaaaaaa; while true; do x=$x$x; done"], detach=True,
        mem_limit="8m", memswap_limit="8m", network_mode="none",
        labels={"benchfarm.job_id": job.id, "benchfarm.repetition": "0"})
    containers.append(container)
    assert container.wait(timeout=60)["StatusCode"] != 0
    container.reload()
    assert container.attrs["State"]["OOMKilled"] is True

    final = _poll(lambda: (j := repo.get(job.id)).status == JobStatus.FAILED and j, 90, "the job to be failed")
    assert final.reason == "oom-killed"
    events = [e for e in repo.events(job.id) if e.type == EventType.CONTAINER_EVENT]
    assert events and {e.data["container_id"] for e in events} == {container.id}
    assert any(e.data.get("oom_killed") for e in events)
    assert all(e.data["host_id"] == settings.minion_id for e in events)
    assert len({(e.data["container_id"], e.data["action"]) for e in events}) == len(events)  # idempotent


def _hosts(settings) -> dict[str, dict]:
    proc = cli("hosts", "list", "--json", "--no-sync")
    assert proc.returncode == 0, proc.stderr
    return {h["host_id"]: h for h in json.loads(proc.stdout)}


def test_failing_health_check_quarantines_and_passing_releases(farm, settings, busybox_image, tmp_path):
    master = Farm(settings).salt
    mid = settings.minion_id
    lock_dir = Path(f"/var/lib/benchfarm/host-root/{mid}{settings.state_dir}/locks")
    assert master.cmd(mid, "benchfarm.health_check")[mid]["ok"] is True, "host must start healthy"
    assert lock_dir.is_dir()
    moved = lock_dir.with_name("locks.moved-by-test")
    shutil.move(lock_dir, moved)  # a real failure: the host lock dir is gone
    try:
        ret = master.cmd(mid, "benchfarm.health_check", kwarg={"fire_event": True})[mid]
        assert ret["ok"] is False and "lock_dir" in ret["failed"]
        host = _poll(lambda: (h := _hosts(settings).get(mid)) and h["status"] == "quarantined" and h, 60,
                     "the reactor to quarantine the host")
        assert "health check failed" in host["status_reason"] and "lock_dir" in host["status_reason"]
        status = master.cmd(mid, "benchfarm.worker_status")[mid]
        assert status["quarantined"] is True

        spec = write_spec(tmp_path, busybox_spec(busybox_image, "echo '{\"value\": 1}'",
                                                 requirements={"pool": settings.pool}))
        refused = cli("submit", str(spec))
        assert refused.returncode != 0
        assert "quarantined" in refused.stdout + refused.stderr
    finally:
        shutil.move(moved, lock_dir)
    ret = master.cmd(mid, "benchfarm.health_check", kwarg={"fire_event": True})[mid]
    assert ret["ok"] is True
    host = _poll(lambda: (h := _hosts(settings).get(mid)) and h["status"] == "good" and h, 60,
                 "the reactor to release the host")
    assert host["status_reason"] == "health check passed"
    assert master.cmd(mid, "benchfarm.worker_status")[mid]["quarantined"] is False
