"""The host's container policy, from settings to the engine: networks, and pids and memory limits.

A job's network beyond ``none`` and its limits come from the policy of the host it runs
on: the settings (or Salt grains) -> ``HostCapabilities`` -> matching at submit -> the
container spec on the host (checked again there) -> the Docker adapter's arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from benchfarm.adapters.docker_engine import ContainerEngine
from benchfarm.clock import FakeClock
from benchfarm.errors import HostPolicyError
from benchfarm.execution.executor import ExecutorConfig, JobExecutor
from benchfarm.inventory import hardware
from benchfarm.jobs.model import JobRecord, JobStatus
from benchfarm.jobs.repository import JobRepository
from benchfarm.runner.container_spec import ContainerSpec, build_container_spec
from benchfarm.scheduler.capabilities import DEFAULT_PIDS_LIMIT, ContainerPolicy, HostCapabilities
from benchfarm.scheduler.matching import match_hosts
from benchfarm.settings import Settings
from benchfarm.spec.loader import load_spec_data
from benchfarm.spec.model import JobSpec
from tests.support.fake_engine import FakeEngine
from tests.support.memory_kv import MemoryKV

GIB = 1 << 30
MIB = 1 << 20


def _spec(**kw: Any) -> JobSpec:
    return load_spec_data({"name": "j", "image": "i", **kw})


def _host(host_id: str = "vm", **kw: Any) -> HostCapabilities:
    return HostCapabilities(host_id=host_id, cpu_count=4, memory_bytes=16 * GIB, **kw)


def _container(spec: JobSpec, caps: HostCapabilities, tmp_path: Path) -> ContainerSpec:
    return build_container_spec(spec, job_id="j", image="i", repetition=0, warmup=False, caps=caps,
                                results_dir=tmp_path)


# ---------------------------------------------------------------------------- settings -> capabilities
def test_settings_default_to_no_network_and_a_pids_limit(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("BENCHFARM_CONFIG", raising=False)
    policy = Settings().container_policy()
    assert policy.allowed_networks == []
    assert policy.default_pids_limit == DEFAULT_PIDS_LIMIT == 4096 and policy.max_pids_limit == 32768
    assert policy.default_memory_bytes is None and policy.max_memory_bytes is None
    assert policy.reserved_memory_bytes == 4 * GIB


def test_settings_take_sizes_and_networks_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BENCHFARM_ALLOWED_NETWORKS", '["bridge"]')
    monkeypatch.setenv("BENCHFARM_DEFAULT_PIDS_LIMIT", "64")
    monkeypatch.setenv("BENCHFARM_DEFAULT_MEMORY", "48m")
    monkeypatch.setenv("BENCHFARM_MAX_MEMORY", "1g")
    monkeypatch.setenv("BENCHFARM_RESERVED_MEMORY", "2g")
    policy = Settings().container_policy()
    assert policy == ContainerPolicy(allowed_networks=["bridge"], default_pids_limit=64,
                                     default_memory_bytes=48 * MIB, max_memory_bytes=GIB,
                                     reserved_memory_bytes=2 * GIB)


@pytest.mark.parametrize("kw,message", [
    ({"allowed_networks": ["internet"]}, "bridge"),
    ({"default_pids_limit": 2}, "greater than or equal to 8"),
    ({"default_pids_limit": 100, "max_pids_limit": 50}, "default_pids_limit (100) is above max_pids_limit (50)"),
    ({"default_memory": "2g", "max_memory": "1g"}, "default_memory (2.0 GiB) is above max_memory (1.0 GiB)"),
    ({"default_memory": "lots"}, "'lots' is not a size"),
])
def test_a_bad_policy_is_refused_with_what_is_wrong(kw: dict[str, Any], message: str):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings(**kw).container_policy()


def test_detected_capabilities_carry_the_policy():
    policy = ContainerPolicy(allowed_networks=["host"], default_pids_limit=100)
    hw = hardware.Hardware(cpu=hardware.CpuInfo(vendor="v", model="m", count=2), numa_nodes=1, memory_bytes=8 * GIB,
                           disks=[], gpus=[], fpgas=[])
    caps = hardware.capabilities_from(hw, host_id="h", policy=policy)
    assert caps.allowed_networks == ["host"] and caps.default_pids_limit == 100
    assert caps.job_memory_max == 4 * GIB  # 8 GiB less the 4 GiB reserve


def test_static_grains_carry_the_policy():
    caps = hardware.capabilities_from_grains({"id": "h", "benchfarm_memory_bytes": 8 * GIB, "benchfarm": {
        "allowed_networks": ["bridge"], "default_pids_limit": 256, "max_memory": "2g", "default_memory": "512m"}})
    assert caps.allowed_networks == ["bridge"] and caps.default_pids_limit == 256
    assert (caps.job_memory_default, caps.job_memory_max) == (512 * MIB, 2 * GIB)
    plain = hardware.capabilities_from_grains({"id": "h"})
    assert plain.allowed_networks == [] and plain.default_pids_limit == DEFAULT_PIDS_LIMIT


@pytest.mark.parametrize("memory,kw,default,most", [
    (16 * GIB, {}, 12 * GIB, 12 * GIB),                          # the host's memory less the reserve
    (6 * GIB, {}, 3 * GIB, 3 * GIB),                             # never less than half the host
    (16 * GIB, {"reserved_memory_bytes": GIB}, 15 * GIB, 15 * GIB),
    (16 * GIB, {"default_memory_bytes": GIB}, GIB, 12 * GIB),
    (16 * GIB, {"max_memory_bytes": 2 * GIB}, 2 * GIB, 2 * GIB),
    (2 * GIB, {"default_memory_bytes": 4 * GIB}, GIB, GIB),      # a default above what the host allows is capped
    (0, {}, None, None),                                         # memory unknown: no limit to derive
    (0, {"max_memory_bytes": GIB}, GIB, GIB),
])
def test_job_memory_limits_of_a_host(memory: int, kw: dict[str, Any], default: int | None, most: int | None):
    caps = HostCapabilities(host_id="h", memory_bytes=memory, **kw)
    assert (caps.job_memory_default, caps.job_memory_max) == (default, most)


def test_a_record_stored_before_the_policy_existed_gets_the_safe_defaults():
    old = '{"host_id": "vm", "memory_bytes": 17179869184, "allowed_cap_add": []}'
    caps = HostCapabilities.model_validate_json(old)
    assert caps.allowed_networks == [] and caps.default_pids_limit == DEFAULT_PIDS_LIMIT
    assert caps.job_memory_max == 12 * GIB


# ---------------------------------------------------------------------------- matching at submit
@pytest.mark.parametrize("kw,allowed", [
    ({}, ["vm", "lab", "open"]),
    ({"network": "none"}, ["vm", "lab", "open"]),
    ({"network": "bridge"}, ["lab", "open"]),
    ({"network": "host"}, ["open"]),
    ({"resources": {"pids": 32768}}, ["vm", "lab", "open"]),
    ({"resources": {"pids": 40000}}, ["open"]),
    ({"resources": {"memory": "12g"}}, ["vm", "lab", "open"]),
    ({"resources": {"memory": "13g"}}, ["lab", "open"]),
    ({"resources": {"memory": "15g"}}, ["open"]),
])
def test_matching_honours_each_hosts_policy(kw: dict[str, Any], allowed: list[str]):
    hosts = [_host("vm"), _host("lab", allowed_networks=["bridge"], reserved_memory_bytes=2 * GIB),
             _host("open", allowed_networks=["bridge", "host"], max_pids_limit=65536, max_memory_bytes=15 * GIB)]
    assert [h.host_id for h in match_hosts(_spec(**kw), hosts).hosts] == allowed


@pytest.mark.parametrize("kw,reason", [
    ({"network": "host"},
     "job requires network 'host'; no registered host has a policy allowing network 'host' "
     "(hosts: vm: allowed networks: none)"),
    ({"network": "bridge"},
     "job requires network 'bridge'; no registered host has a policy allowing network 'bridge' "
     "(hosts: vm: allowed networks: none)"),
    ({"resources": {"pids": 50000}},
     "job requires a pids limit of 50000; no registered host has a policy allowing that many "
     "(hosts: vm: at most 32768 per job)"),
    ({"resources": {"memory": "14g"}},
     "job requires a memory limit of 14.0 GiB; no registered host has a policy allowing that much "
     "(hosts: vm: at most 12.0 GiB per job)"),
])
def test_a_refusal_names_the_policy(kw: dict[str, Any], reason: str):
    assert match_hosts(_spec(**kw), [_host()]).reasons == [reason]


def test_a_limit_above_the_hosts_memory_is_refused_once_for_memory():
    assert match_hosts(_spec(resources={"memory": "32g"}), [_host()]).reasons == [
        "job requires 32.0 GiB of memory; no registered host has that much memory (hosts: vm: 16.0 GiB)"]


# ---------------------------------------------------------------------------- the container on the host
def test_every_container_gets_the_hosts_default_limits(tmp_path: Path):
    cs = _container(_spec(), _host(default_pids_limit=256, default_memory_bytes=GIB), tmp_path)
    assert (cs.pids_limit, cs.mem_limit, cs.network_mode) == (256, GIB, "none")
    cs = _container(_spec(), _host(), tmp_path)  # no default memory: the most a job may have
    assert (cs.pids_limit, cs.mem_limit) == (DEFAULT_PIDS_LIMIT, 12 * GIB)


def test_a_job_may_ask_for_less_or_for_more_up_to_the_hosts_maximum(tmp_path: Path):
    caps = _host(default_pids_limit=256, default_memory_bytes=GIB)
    cs = _container(_spec(resources={"pids": 32, "memory": "64m"}), caps, tmp_path)
    assert (cs.pids_limit, cs.mem_limit) == (32, 64 * MIB)
    cs = _container(_spec(resources={"pids": 32768, "memory": "12g"}), caps, tmp_path)
    assert (cs.pids_limit, cs.mem_limit) == (32768, 12 * GIB)


@pytest.mark.parametrize("kw,message", [
    ({"network": "host"}, "network host is not allowed on host vm (allowed: none)"),
    ({"network": "bridge"}, "network bridge is not allowed on host vm (allowed: none)"),
    ({"resources": {"pids": 40000}}, "a pids limit of 40000 is above the most host vm allows a job (32768)"),
    ({"resources": {"memory": "13g"}}, "a memory limit of 13.0 GiB is above the most host vm allows a job (12.0 GiB)"),
])
def test_the_host_refuses_what_its_policy_does_not_allow(kw: dict[str, Any], message: str, tmp_path: Path):
    with pytest.raises(HostPolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _container(_spec(**kw), _host(), tmp_path)


def test_a_network_the_host_allows_is_used(tmp_path: Path):
    assert _container(_spec(network="host"), _host(allowed_networks=["host"]), tmp_path).network_mode == "host"
    assert _container(_spec(network="bridge"), _host(allowed_networks=["bridge"]), tmp_path).network_mode == "bridge"


def test_a_container_spec_built_elsewhere_still_has_a_pids_limit():
    # benchfarm.run_container (Salt) builds its ContainerSpec without a job spec
    assert ContainerSpec(image="i", command=None, name="n").pids_limit == DEFAULT_PIDS_LIMIT


def test_a_job_queued_anyway_is_refused_on_the_host_before_any_container(tmp_path: Path):
    clock = FakeClock()
    engine = FakeEngine(clock)
    repo = JobRepository(MemoryKV())
    spec = _spec(network="host", command=["sh", "-c", "printf 'PING\\r\\n' | nc 127.0.0.1 16379"])
    repo.create(JobRecord(id="job-1", spec=spec.model_dump(), status=JobStatus.QUEUED, image_ref="i",
                          image_digest="sha256:feedface", queue="pool.default", submitted_at=clock.utcnow()))
    executor = JobExecutor(repo, engine, _host(), ExecutorConfig(worker_id="w1", lock_dir=tmp_path / "locks",
                                                                 results_root=tmp_path / "results"), clock=clock)
    job = executor.execute("job-1")
    assert job is not None and job.status == JobStatus.FAILED
    assert job.reason is not None and "network host is not allowed on host vm" in job.reason
    assert engine.created == []


# ---------------------------------------------------------------------------- the Docker adapter
class _RecordingContainers:
    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    def create(self, **kwargs: Any) -> Any:
        self.kwargs = kwargs
        return type("Created", (), {"id": "c1"})()


def test_the_adapter_passes_the_limits_and_no_swap(tmp_path: Path):
    engine = ContainerEngine("unix:///nonexistent.sock")
    containers = _RecordingContainers()
    engine._client = type("Client", (), {"containers": containers})()
    engine.create(_container(_spec(), _host(default_pids_limit=64, default_memory_bytes=48 * MIB), tmp_path))
    kw = containers.kwargs
    assert (kw["pids_limit"], kw["mem_limit"], kw["memswap_limit"]) == (64, 48 * MIB, 48 * MIB)
    assert kw["network_mode"] == "none" and kw["cap_drop"] == ["ALL"]
