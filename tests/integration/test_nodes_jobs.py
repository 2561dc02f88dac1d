"""Jobs on nodes: two nodes in two pools, each with its own worker, run real jobs from the farm's queues.

Everything is the real thing: `benchfarm nodes add` (CLI) starts each node and its worker, which
reaches Redis, Elasticsearch and the registry on the node's own 127.0.0.1 through the relays (the
node's `forward` service, the stack's `node-gateway`); the API pushes the job's local-only image to
the farm registry at submit; the node's engine pulls it by digest. The node image is built once (an
unchanged tree reuses it). Nodes, their volumes and their host registry entries are removed in
finalisers; the node network belongs to the stack's node-gateway (removed by `stack down` once no node
is attached), so it stays.
"""

from __future__ import annotations

import json
import socket
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
from benchfarm.settings import Settings
from tests.integration.jobs_support import busybox_spec, cli, dump, wait_final, write_spec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GiB = 1 << 30
SESSION = uuid.uuid4().hex[:6]
POOLS = {"nodes-a": ("0", f"j{SESSION}-a"), "nodes-b": ("1", f"j{SESSION}-b")}  # pool -> (cpuset, node name)
TIMINGS: dict[str, float] = {}


def _progress(message: str) -> None:
    sys.stderr.write(f"[nodes-jobs] {message}\n")


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def node_farm(farm, settings: Settings) -> Iterator[Farm]:
    """The composition root of this process: nodes, their workers and the host registry, on the real services."""
    yield Farm(settings)


@pytest.fixture(scope="module")
def nodes(node_farm: Farm, node_image: NodeImage) -> Iterator[dict[str, str]]:
    """pool -> node name: two nodes added at once with `benchfarm nodes add` (each starts its worker)."""
    try:
        started = time.monotonic()
        procs = {pool: subprocess.Popen([sys.executable, "-m", "benchfarm.cli.main", "nodes", "add", name,
                                         "--pool", pool, "--cpus", cpus, "--memory", "1g", "--json"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for pool, (cpus, name) in POOLS.items()}
        for pool, proc in procs.items():
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"nodes add for {pool} failed ({proc.returncode}):\n{err[-3000:]}"
            added = json.loads(out)
            assert added["worker"] is True and added["pool"] == pool
            _progress(f"node {added['name']}: ready {added['ready_seconds']} s, worker heartbeat after "
                      f"{added['worker_seconds']} s more, {added['seconds']} s in all")
            TIMINGS[f"{pool}.add_s"] = added["seconds"]
        TIMINGS["add_wall_s"] = time.monotonic() - started
        TIMINGS["add_epoch"] = time.time() - TIMINGS["add_wall_s"]
        yield {pool: name for pool, (_, name) in POOLS.items()}
    finally:
        for _, name in POOLS.values():
            node_farm.nodes.remove(name, _progress)
            node_farm.host_registry.remove(name)  # the retired record too: the test leaves no host behind


@pytest.fixture(scope="module")
def api(farm, settings: Settings) -> ApiClient:
    return ApiClient.from_settings(settings)


def _spec(image: str, pool: str, script: str, name: str) -> dict[str, Any]:
    return busybox_spec(image, script, name=name, requirements={"pool": pool}, timeout_s=120)


def test_each_node_is_a_host_with_its_pool_and_its_own_capacity(nodes: dict[str, str], api: ApiClient) -> None:
    res = cli("hosts", "list", "--json", "--no-sync")
    assert res.returncode == 0, res.stderr
    rows = {r["host_id"]: r for r in json.loads(res.stdout)}
    via_api = {h["host_id"]: h for h in api.hosts()}
    for pool, name in nodes.items():
        for source in (rows, via_api):
            host = source.get(name)
            assert host is not None, f"{name} is not a registered host: {sorted(source)}"
            assert host["pool"] == pool and host["status"] == "good", dump(host)
            assert host["cpu_count"] == 1, dump(host)
            assert host["memory_bytes"] == GiB, dump(host)
        assert rows[name]["alive"] is True


def test_a_job_for_a_pool_runs_on_its_node_with_a_pulled_image(nodes: dict[str, str], api: ApiClient,
                                                                busybox_image: str, docker_client,
                                                                node_farm: Farm, settings: Settings) -> None:
    spec = _spec(busybox_image, "nodes-a", "sleep 3; echo '{\"value\": 42}'", "on-node-a")
    job = wait_final(api, api.submit(spec)["id"], timeout_s=180)
    TIMINGS["first_job_started_after_add_s"] = _ts(job["started_at"]) - TIMINGS["add_epoch"]
    TIMINGS["first_job_finished_after_add_s"] = _ts(job["finished_at"]) - TIMINGS["add_epoch"]
    _progress(f"first job on a node: started {TIMINGS['first_job_started_after_add_s']:.1f} s and finished "
              f"{TIMINGS['first_job_finished_after_add_s']:.1f} s after the two `nodes add` began")
    assert job["status"] == "succeeded", dump(job)
    assert job["host_id"] == nodes["nodes-a"], dump(job)
    assert job["repetitions"][-1]["metrics"] == {"value": 42.0}
    # the image existed only on the host: the API pushed it, the node pulled it by digest, same image id
    local_id = docker_client.images.get(busybox_image).id
    assert job["image_digest"] == local_id
    assert job["image_pull_ref"].startswith(f"{settings.registry_address}/benchfarm-test/busybox@sha256:")
    inside = node_farm.nodes.exec(nodes["nodes-a"], ["docker", "image", "inspect", "--format", "{{.Id}}",
                                                     job["image_pull_ref"]])
    assert inside.exit_code == 0 and inside.output.strip() == local_id, inside.output
    # the node's samples reached Elasticsearch like the first host's
    store = node_farm.store_repository
    deadline = time.monotonic() + 60
    while True:
        store.refresh()
        samples = store.samples_for(job["id"])
        if samples or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert samples, "no sample of the node's job reached Elasticsearch"
    assert {s["host_id"] for s in samples} == {nodes["nodes-a"]}


def test_two_jobs_run_at_once_on_the_two_nodes(nodes: dict[str, str], api: ApiClient, busybox_image: str) -> None:
    ids = {pool: api.submit(_spec(busybox_image, pool, "sleep 4; echo '{\"value\": 1}'", f"both-{pool}"))["id"]
           for pool in nodes}
    jobs = {pool: wait_final(api, job_id, timeout_s=180) for pool, job_id in ids.items()}
    for pool, job in jobs.items():
        assert job["status"] == "succeeded", dump(job)
        assert job["host_id"] == nodes[pool], dump(job)
    a, b = (jobs["nodes-a"]["repetitions"][-1], jobs["nodes-b"]["repetitions"][-1])
    assert _ts(a["started_at"]) < _ts(b["finished_at"]) and _ts(b["started_at"]) < _ts(a["finished_at"]), \
        f"the two jobs' containers did not overlap: a {a['started_at']}..{a['finished_at']}, " \
        f"b {b['started_at']}..{b['finished_at']}"


def test_a_node_reaches_the_relayed_ports_and_nothing_else_on_the_host(nodes: dict[str, str],
                                                                      node_farm: Farm) -> None:
    name = nodes["nodes-a"]
    # the farm's Redis on the node's own loopback, through both relays (node `forward`, host `node-gateway`)
    pong = node_farm.nodes.exec(name, ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/16379; printf 'PING\\r\\n' >&3; "
                                                     "timeout 3 head -c 7 <&3"])
    # Redis itself answers (it wants credentials first: the default user is off)
    assert "+PONG" in pong.output or "-NOAUTH" in pong.output, pong.output
    # a listener of the host on the gateway address, on a port that is not relayed: the fence drops the node
    gateway = node_farm.nodes.ensure_network().gateway
    with socket.socket() as listener:
        listener.bind((gateway, 0))
        listener.listen()
        port = listener.getsockname()[1]
        socket.create_connection((gateway, port), timeout=3).close()  # the host itself is not fenced
        tried = node_farm.nodes.exec(name, ["bash", "-c", f"timeout 3 bash -c 'exec 3<>/dev/tcp/{gateway}/{port}' "
                                                          "2>/dev/null && echo open || echo closed"])
        assert tried.output.strip() == "closed", f"node {name} reached {gateway}:{port}: {tried.output}"


def test_removing_a_node_retires_its_host(nodes: dict[str, str], node_farm: Farm, busybox_image: str,
                                          tmp_path) -> None:
    name = nodes["nodes-b"]
    res = cli("nodes", "remove", name, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"name": name, "removed": True}
    assert node_farm.nodes.find(name) is None
    assert node_farm.host_registry.get(name).status == "retired"
    assert name not in node_farm.host_registry.workers_seen()
    assert name not in {h.host_id for h in node_farm.host_registry.hosts()}
    # with its only host gone, a job for the pool is refused at submit (not queued for nobody)
    res = cli("submit", str(write_spec(tmp_path, _spec(busybox_image, "nodes-b", "true", "after-removal"))))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "no registered host" in res.stderr


def test_report_timings(nodes: dict[str, str]) -> None:
    """Not a check: prints what the run measured (pytest -s shows it)."""
    _progress("timings: " + json.dumps({k: round(v, 2) for k, v in TIMINGS.items() if k != "add_epoch"}))
