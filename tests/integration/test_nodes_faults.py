"""Faults on nodes: two real nodes with their workers in one pool, and what a job does when one of them fails.

- draining a node (its host set to ``maintenance``) lets its running job finish and gives it no new one;
- a node's dockerd killed mid-job (the node's supervisor starts it again): the job ends in a terminal state
  with a reason, or succeeds on its retry, and the node takes the next job;
- a node SIGKILLed mid-job (``docker kill``): its worker's lease runs out, the other node's reaper queues the
  job again, and the other node runs it to the end: two attempts in the record, the results of the second.

The kill comes last: it leaves its node stopped. Nodes are added with `benchfarm nodes add` (CLI) as in
``test_nodes_jobs.py``; nodes, volumes, host registry entries and host statuses are cleaned up in finalisers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.nodes.image import NodeImage
from benchfarm.runner.container_spec import LABEL_JOB
from benchfarm.settings import Settings
from tests.integration.jobs_support import FINAL, busybox_spec, dump, wait_final, wait_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SESSION = uuid.uuid4().hex[:6]
POOL = f"faults-{SESSION}"
NODES = {f"f{SESSION}-0": "0", f"f{SESSION}-1": "1"}  # node name -> cpuset, both in POOL


def _progress(message: str) -> None:
    sys.stderr.write(f"[nodes-faults] {message}\n")


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def node_farm(farm, settings: Settings) -> Iterator[Farm]:
    yield Farm(settings)


@pytest.fixture(scope="module")
def nodes(node_farm: Farm, node_image: NodeImage) -> Iterator[list[str]]:
    """The two node names, both in POOL, added at once with `benchfarm nodes add` (each starts its worker)."""
    try:
        procs = {name: subprocess.Popen([sys.executable, "-m", "benchfarm.cli.main", "nodes", "add", name,
                                         "--pool", POOL, "--cpus", cpus, "--memory", "1g", "--json"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name, cpus in NODES.items()}
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"nodes add {name} failed ({proc.returncode}):\n{err[-3000:]}"
            assert json.loads(out)["worker"] is True
        yield list(NODES)
    finally:
        for name in NODES:
            node_farm.nodes.remove(name, _progress)
            node_farm.host_registry.remove(name)


@pytest.fixture(scope="module")
def api(farm, settings: Settings) -> ApiClient:
    return ApiClient.from_settings(settings)


@pytest.fixture
def job_ids(api: ApiClient) -> Iterator[list[str]]:
    """Jobs a test submits; any not final at its end is cancelled."""
    ids: list[str] = []
    yield ids
    for job_id in ids:
        try:
            if api.job(job_id)["status"] not in FINAL:
                api.cancel(job_id)
        except Exception as exc:  # a finaliser reports and goes on
            _progress(f"could not cancel {job_id}: {exc}")


def _spec(image: str, script: str, name: str) -> dict[str, Any]:
    return busybox_spec(image, script, name=name, requirements={"pool": POOL}, timeout_s=120)


def _submit(api: ApiClient, ids: list[str], spec: dict[str, Any]) -> str:
    job_id = api.submit(spec)["id"]
    ids.append(job_id)
    return job_id


def _other(nodes: list[str], name: str) -> str:
    return next(n for n in nodes if n != name)


def _job_containers(node_farm: Farm, node: str, job_id: str) -> str:
    """The ids of the containers of ``job_id`` on ``node``'s engine (running or not), one a line."""
    res = node_farm.nodes.exec(node, ["docker", "ps", "-aq", "--filter", f"label={LABEL_JOB}={job_id}"])
    assert res.exit_code == 0, res.output
    return res.output.strip()


def test_draining_a_node_lets_its_job_finish_and_gives_it_no_new_one(nodes: list[str], node_farm: Farm,
                                                                   api: ApiClient, busybox_image: str,
                                                                   job_ids: list[str]) -> None:
    first = _submit(api, job_ids, _spec(busybox_image, "sleep 10; echo '{\"value\": 1}'", "drain-running"))
    drained = wait_status(api, first, "running", timeout_s=180)["host_id"]
    other = _other(nodes, drained)
    try:
        node_farm.inventory.set_status(drained, "maintenance", "drained by test_nodes_faults")
        second = _submit(api, job_ids, _spec(busybox_image, "sleep 1; echo '{\"value\": 2}'", "drain-second"))
        done = wait_final(api, first, timeout_s=120)
        assert done["status"] == "succeeded" and done["host_id"] == drained, dump(done)
        assert done["attempts"] == 1, dump(done)
        assert done["repetitions"][-1]["metrics"] == {"value": 1.0}
        job = wait_final(api, second, timeout_s=120)
        assert job["status"] == "succeeded" and job["host_id"] == other, dump(job)
        # the drained node is idle now, and still gets nothing
        third = _submit(api, job_ids, _spec(busybox_image, "echo '{\"value\": 3}'", "drain-third"))
        job = wait_final(api, third, timeout_s=120)
        assert job["status"] == "succeeded" and job["host_id"] == other, dump(job)
    finally:
        node_farm.inventory.set_status(drained, "good", "drain ended by test_nodes_faults")


def test_a_dockerd_restarted_mid_job_ends_the_job_cleanly_and_the_node_goes_on(
        nodes: list[str], node_farm: Farm, api: ApiClient, busybox_image: str, job_ids: list[str]) -> None:
    job_id = _submit(api, job_ids, _spec(busybox_image, "sleep 8; echo '{\"value\": 5}'", "dockerd-restart"))
    host = wait_status(api, job_id, "running", timeout_s=180)["host_id"]
    deadline = time.monotonic() + 30
    while not _job_containers(node_farm, host, job_id):  # its container has started
        assert time.monotonic() < deadline, "the job's container never appeared on its node"
        time.sleep(0.2)
    before = node_farm.nodes.exec(host, ["cat", "/var/run/docker.pid"]).output.strip()
    assert before.isdigit(), before
    killed = node_farm.nodes.exec(host, ["kill", "-KILL", before])
    assert killed.exit_code == 0, killed.output
    _progress(f"dockerd (pid {before}) of {host} killed while job {job_id} ran")
    job = wait_final(api, job_id, timeout_s=150)
    _progress(f"job after the dockerd restart: {job['status']} on {job['host_id']} after {job['attempts']} "
              f"attempt(s): {job['reason']}")
    if job["status"] == "succeeded":
        assert job["repetitions"][-1]["metrics"] == {"value": 5.0}, dump(job)
    else:
        assert job["status"] == "failed" and job["reason"], dump(job)
    # the supervisor started a new dockerd, and the node takes the next job
    node_farm.nodes.wait_ready(host)
    after = node_farm.nodes.exec(host, ["cat", "/var/run/docker.pid"]).output.strip()
    assert after.isdigit() and after != before, (before, after)
    for attempt in range(2):  # the job may go to either node: the other one takes a second
        probe = _submit(api, job_ids, _spec(busybox_image, "sleep 3; echo '{\"value\": 6}'", f"after-{attempt}"))
        blocker = None
        if attempt == 1:  # keep the other node busy so the restarted one gets the probe
            blocker = _submit(api, job_ids, _spec(busybox_image, "sleep 15; echo '{\"value\": 0}'", "blocker"))
        done = wait_final(api, probe, timeout_s=150)
        assert done["status"] == "succeeded", dump(done)
        if blocker is not None:
            wait_final(api, blocker, timeout_s=150)
        if done["host_id"] == host:
            break
    else:
        pytest.fail(f"node {host} took no job after its dockerd was restarted")
    assert not any(api.job(j)["status"] == "running" for j in job_ids)


def test_a_node_killed_mid_job_runs_the_job_again_on_the_other_node(nodes: list[str], node_farm: Farm,
                                                                   api: ApiClient, busybox_image: str,
                                                                   docker_client, job_ids: list[str]) -> None:
    started = time.monotonic()
    job_id = _submit(api, job_ids, _spec(busybox_image, "sleep 8; echo '{\"value\": 7}'", "node-killed"))
    killed = wait_status(api, job_id, "running", timeout_s=180)["host_id"]
    other = _other(nodes, killed)
    time.sleep(2)  # inside its first repetition
    docker_client.containers.get(node_farm.nodes.get(killed).container_name).kill()  # SIGKILL
    killed_at = time.time()
    _progress(f"node {killed} SIGKILLed while job {job_id} ran on it")
    job = wait_final(api, job_id, timeout_s=90)
    _progress(f"job {job['status']} on {job['host_id']} {time.time() - killed_at:.1f} s after the kill "
              f"({time.monotonic() - started:.1f} s in all)")
    assert job["status"] == "succeeded", dump(job)
    assert job["host_id"] == other and job["attempts"] == 2, dump(job)
    events = api.events(job_id)
    started_events = [e for e in events if e["type"] == "started"]
    assert [(e["data"]["host"], e["data"]["attempt"]) for e in started_events] == [(killed, 1), (other, 2)], \
        dump(events)
    # the reaper's `requeued` event is there unless the message it sent was claimed before it marked the job
    # queued (its compare-and-set then changes nothing: benchfarm/execution/reaper.py)
    assert len([e for e in events if e["type"] == "requeued"]) <= 1, dump(events)
    # the results are the finishing attempt's: one measured repetition, run after attempt 2 started, with its metric
    measured = [r for r in job["repetitions"] if not r["warmup"]]
    assert len(measured) == 1 and measured[0]["metrics"] == {"value": 7.0}, dump(job)
    assert _ts(measured[0]["started_at"]) > _ts(started_events[1]["at"]), dump(job)
    # in Elasticsearch too: every result document is the second attempt's, each sample says its attempt
    store = node_farm.store_repository
    deadline = time.monotonic() + 60
    while not any(d["doc_type"] == "summary" for d in store.results_for(job_id)):
        assert time.monotonic() < deadline, "the job's summary never reached Elasticsearch"
        time.sleep(0.5)
        store.refresh()
    results = store.results_for(job_id)
    assert {d["attempt"] for d in results} == {2}, results
    assert len([d for d in results if d["doc_type"] == "repetition"]) == len(job["repetitions"]), results
    assert {s.get("attempt") for s in store.samples_for(job_id) if s["host_id"] == other} == {2}
    # nothing stays running: the job's container on the other node is gone, the killed node runs nothing
    assert not _job_containers(node_farm, other, job_id)
    assert node_farm.nodes.get(killed).running is False
    assert not any(api.job(j)["status"] == "running" for j in job_ids)
