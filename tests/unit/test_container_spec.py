"""Building the locked-down container of a repetition from a job spec and host capabilities."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchfarm.errors import DeviceNotAllowedError
from benchfarm.runner.container_spec import build_container_spec
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.spec.model import JobSpec


def _spec(**overrides) -> JobSpec:
    base = {
        "name": "cpu", "image": "img", "command": ["run"], "args": ["--fast"], "env": {"A": "1"},
        "resources": {"cpuset": "0", "cpus": 1.5, "memory": 256 << 20},
        "devices": [], "cap_add": [], "network": "none", "requirements": {},
    }
    base.update(overrides)
    return JobSpec.model_validate(base)


def _caps(**kw) -> HostCapabilities:
    return HostCapabilities(host_id="h1", cpu_count=4, memory_bytes=8 << 30, **kw)


def test_defaults_are_locked_down(tmp_path: Path):
    cs = build_container_spec(_spec(), job_id="job-1", image="sha256:abc", repetition=2, warmup=False,
                              caps=_caps(), results_dir=tmp_path)
    assert cs.network_mode == "none"
    assert cs.read_only is True
    assert "/tmp" in cs.tmpfs
    assert cs.security_opt == ["no-new-privileges"]
    assert cs.cap_add == []
    assert cs.command == ["run", "--fast"]
    assert cs.cpuset == "0" and cs.nano_cpus == 1_500_000_000 and cs.mem_limit == 256 << 20
    assert cs.labels == {"benchfarm.job_id": "job-1", "benchfarm.repetition": "2", "benchfarm.spec_name": "cpu",
                         "benchfarm.warmup": "0"}
    assert cs.gpus is None


def test_gpu_requirement_becomes_a_device_request(tmp_path: Path):
    cs = build_container_spec(_spec(requirements={"gpu": {"count": 2}}), job_id="j", image="i", repetition=0,
                              warmup=False, caps=_caps(), results_dir=tmp_path)
    assert cs.gpus is not None and cs.gpus.count == 2 and cs.gpus.driver == "nvidia"
    assert cs.gpus.capabilities == ("gpu",)


def test_device_outside_the_allow_list_is_refused(tmp_path: Path):
    spec = _spec(devices=[{"host_path": "/dev/null", "container_path": "/dev/fpga0", "permissions": "r"}])
    with pytest.raises(DeviceNotAllowedError, match="/dev/null is not on the allow-list of host h1"):
        build_container_spec(spec, job_id="j", image="i", repetition=0, warmup=False, caps=_caps(),
                             results_dir=tmp_path)


def test_device_on_the_allow_list_is_mapped_with_its_permissions(tmp_path: Path):
    spec = _spec(devices=[{"host_path": "/dev/null", "container_path": "/dev/fpga0", "permissions": "r"}])
    cs = build_container_spec(spec, job_id="j", image="i", repetition=0, warmup=False,
                              caps=_caps(allowed_devices=["/dev/nul*"]), results_dir=tmp_path)
    assert [d.as_docker() for d in cs.devices] == ["/dev/null:/dev/fpga0:r"]


def test_capability_not_in_the_host_policy_is_refused(tmp_path: Path):
    with pytest.raises(DeviceNotAllowedError, match="SYS_NICE"):
        build_container_spec(_spec(cap_add=["SYS_NICE"]), job_id="j", image="i", repetition=0, warmup=False,
                             caps=_caps(), results_dir=tmp_path)
    cs = build_container_spec(_spec(cap_add=["SYS_NICE"]), job_id="j", image="i", repetition=0, warmup=False,
                              caps=_caps(allowed_cap_add=["sys_nice"]), results_dir=tmp_path)
    assert cs.cap_add == ["SYS_NICE"]
