"""The farm's master with three real minions on this machine: the stack's own (`vm`) and two
extra `salt-minion` processes with their own ids, pools and static grains describing different
hardware (one with a fake Xilinx FPGA). The real states apply to the test minions, a second
apply changes nothing, `benchfarm hosts list --json` shows all three from grains, and a job
for pool B never runs on another pool's host (the test minions run no Celery worker, so a
pool-B job stays queued on `pool.pool-b`, which the stack's worker on `vm` does not consume)."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import yaml

from benchfarm.adapters.redis_store import RedisKV
from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.errors import BenchfarmError
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.scheduler.matching import match_hosts
from benchfarm.scheduler.queues import queues_for_host
from benchfarm.spec.model import JobSpec
from tests.integration.jobs_support import busybox_spec, cli
from tests.integration.salt_minions import (
    apply_states,
    changed,
    remove_minions,
    start_minion,
    unique_id,
    wait_answering,
    wait_provisioned,
)

pytestmark = pytest.mark.integration
GiB = 1024**3
FPGA = {"vendor": "xilinx", "model": "u250", "pci_address": "0000:af:00.0"}
HARDWARE = {
    "pool-a": {"cpu": {"vendor": "GenuineIntel", "model": "Fake Xeon Gold 6248 (test)", "count": 40,
                       "flags": ["avx2", "avx512f"]},
               "numa_nodes": 2, "memory_bytes": 192 * GiB, "fpgas": [FPGA]},
    "pool-b": {"cpu": {"vendor": "AuthenticAMD", "model": "Fake EPYC 9654 (test)", "count": 96, "flags": ["avx2"]},
               "numa_nodes": 4, "memory_bytes": 768 * GiB, "fpgas": []},
}
EXPECTED_QUEUES = {"pool-a": ["fpga.any", "fpga.xilinx-u250", "pool.pool-a"], "pool-b": ["pool.pool-b"]}
MANAGED = {"benchfarm-worker-config-file", "benchfarm-worker-lock-dir", "benchfarm-worker-unit-file"}


@pytest.fixture(scope="module")
def three(farm, settings):
    """{pool: TestMinion} for pool-a and pool-b, provisioned by the minion-start reactor."""
    master = Farm(settings).salt
    minions = {}
    try:
        for pool, prefix in (("pool-a", "bf-test-a"), ("pool-b", "bf-test-b")):
            minions[pool] = start_minion(settings, unique_id(prefix), pool, HARDWARE[pool])
        wait_answering(master, list(minions.values()))
        wait_provisioned(settings, master, list(minions.values()))
        yield master, minions
    finally:
        remove_minions(settings, list(minions.values()))
        _drop_test_queues(settings)


def _drop_test_queues(settings) -> None:
    """The cancelled jobs' messages left on the test pools' queues (no worker consumes them)."""
    import redis

    client = redis.Redis.from_url(settings.effective_redis_url)
    for pool in HARDWARE:
        for key in client.scan_iter(match=f"pool.{pool}*"):
            client.delete(key)
    client.close()


def test_states_apply_to_both_test_minions_and_a_second_apply_changes_nothing(three):
    master, minions = three
    for pool, m in minions.items():
        shutil.rmtree(m.root)  # the reactor's provisioning already applied them: start from a bare host
        first = changed(apply_states(master, m.minion_id))
        assert set(first) >= MANAGED, first
        config = yaml.safe_load((m.root / "etc/benchfarm/config.yaml").read_text())
        assert isinstance(config, dict)
        assert (m.root / "var/lib/benchfarm/locks").is_dir()
        unit = (m.root / "etc/systemd/system/benchfarm-worker.service").read_text()
        # the worker Salt installs consumes exactly the queues the scheduler sends this host's jobs to
        assert f"--queues {','.join(EXPECTED_QUEUES[pool])} " in unit, unit
        assert changed(apply_states(master, m.minion_id)) == {}, f"second apply on {pool} changed something"
        assert changed(apply_states(master, m.minion_id, test=True)) == {}


def _hosts() -> dict[str, dict]:
    proc = cli("hosts", "list", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {h["host_id"]: h for h in json.loads(proc.stdout)}


def test_hosts_list_shows_three_minions_with_pools_and_capabilities_from_grains(three, settings):
    _master, minions = three
    hosts = _hosts()
    a, b = minions["pool-a"].minion_id, minions["pool-b"].minion_id
    assert {settings.minion_id, a, b} <= set(hosts), sorted(hosts)
    assert hosts[settings.minion_id]["pool"] == settings.pool
    for pool, mid in (("pool-a", a), ("pool-b", b)):
        h, hw = hosts[mid], HARDWARE[pool]
        assert h["pool"] == pool
        assert (h["cpu_vendor"], h["cpu_model"], h["cpu_count"]) == (hw["cpu"]["vendor"], hw["cpu"]["model"],
                                                                   hw["cpu"]["count"])
        assert h["numa_nodes"] == hw["numa_nodes"] and h["memory_bytes"] == hw["memory_bytes"]
        assert [(f["vendor"], f["model"]) for f in h["fpgas"]] == [(f["vendor"], f["model"]) for f in hw["fpgas"]]
        assert h["gpus"] == []
        assert h["status"] == "good", h  # registered by the reactor, then its health check passed
    assert hosts[settings.minion_id]["cpu_model"] not in {hw["cpu"]["model"] for hw in HARDWARE.values()}


def _spec(image: str, pool: str) -> dict:
    return busybox_spec(image, "echo '{\"value\": 1}'", name=f"three-minions-{pool}", requirements={"pool": pool})


def test_a_pool_b_job_never_runs_on_another_pools_host(three, settings, busybox_image):
    _master, minions = three
    a, b = minions["pool-a"].minion_id, minions["pool-b"].minion_id
    _hosts()  # registry in step with the grains
    registry = HostRegistry(RedisKV.from_settings(settings))
    by_id = {h.host_id: h for h in registry.hosts()}
    assert {settings.minion_id, a, b} <= set(by_id)
    assert "pool.pool-b" in queues_for_host(by_id[b])
    assert "pool.pool-b" not in queues_for_host(by_id[settings.minion_id])

    # the scheduler's matching: pool-a only on A's host, pool-b only on B's
    for pool, mid in (("pool-a", a), ("pool-b", b)):
        match = match_hosts(JobSpec.model_validate(_spec(busybox_image, pool)), registry.hosts())
        assert [h.host_id for h in match.hosts] == [mid], match
        assert "pool" in " ".join(match.per_host[settings.minion_id])

    client = ApiClient.from_settings(settings)
    job = client.submit(_spec(busybox_image, "pool-b"))
    try:
        assert job["queue"] == "pool.pool-b" and job["status"] == "queued", job
        # it must stay queued: only a pool-b worker may take it, and the farm's worker (vm) is not one
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            now = client.job(job["id"])
            assert now["status"] == "queued" and now["host_id"] is None and now["worker_id"] is None, now
            time.sleep(0.5)
    finally:
        client.cancel(job["id"])
    final = client.job(job["id"])
    assert final["status"] == "cancelled" and final["host_id"] is None and final["started_at"] is None, final

    job_a = client.submit(_spec(busybox_image, "pool-a"))
    try:
        assert job_a["queue"] == "pool.pool-a", job_a
    finally:
        client.cancel(job_a["id"])

    with pytest.raises(BenchfarmError) as refused:
        client.submit(_spec(busybox_image, "pool-z"))
    assert "pool 'pool-z'" in str(refused.value), refused.value
