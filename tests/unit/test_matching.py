"""Host matching and capability queues: table-driven, pure logic."""

from __future__ import annotations

import pytest

from benchfarm.scheduler.capabilities import FpgaInfo, GpuInfo, HostCapabilities
from benchfarm.scheduler.matching import match_hosts
from benchfarm.scheduler.queues import queue_for_job, queues_for_host, slug
from benchfarm.spec.loader import load_spec_data

CPU_HOST = HostCapabilities(host_id="cpu1", pool="default", cpu_vendor="AuthenticAMD", cpu_model="AMD EPYC 7763",
                            cpu_count=8, memory_bytes=16 << 30)
GPU_HOST = HostCapabilities(host_id="gpu1", pool="gpu", cpu_vendor="GenuineIntel", cpu_model="Xeon", cpu_count=32,
                            memory_bytes=256 << 30, gpus=[GpuInfo(index=0, model="NVIDIA H100 80GB HBM3")])
FPGA_HOST = HostCapabilities(host_id="fpga1", pool="fpga", cpu_count=16, memory_bytes=64 << 30,
                             fpgas=[FpgaInfo(vendor="xilinx", model="u250")], allowed_devices=["/dev/xclmgmt*"])
HOSTS = [CPU_HOST, GPU_HOST, FPGA_HOST]


def spec(**kw):
    return load_spec_data({"name": "j", "image": "i", **kw})


@pytest.mark.parametrize("kw,expected", [
    ({}, ["cpu1", "gpu1", "fpga1"]),
    ({"requirements": {"pool": "gpu"}}, ["gpu1"]),
    ({"requirements": {"gpu": {"count": 1}}}, ["gpu1"]),
    ({"requirements": {"gpu": {"count": 1, "model": "A100"}}}, []),
    ({"requirements": {"gpu": {"count": 2}}}, []),
    ({"requirements": {"fpga": {"count": 1, "vendor": "xilinx", "model": "u2"}}}, ["fpga1"]),
    ({"requirements": {"cpu_model": "epyc"}}, ["cpu1"]),
    ({"requirements": {"cpu_vendor": "GenuineIntel"}}, ["gpu1"]),
    ({"requirements": {"min_memory": "100g"}}, ["gpu1"]),
    ({"resources": {"cpuset": "20-21"}}, ["gpu1"]),
    ({"devices": [{"host_path": "/dev/xclmgmt1"}]}, ["fpga1"]),
])
def test_matching(kw, expected):
    assert [h.host_id for h in match_hosts(spec(**kw), HOSTS).hosts] == expected


def test_a_gpu_job_on_a_cpu_only_farm_names_the_gpu_requirement():
    res = match_hosts(spec(requirements={"gpu": {"count": 1, "model": "H100|A100"}}), [CPU_HOST])
    assert res.hosts == []
    assert res.reasons == ["cpu1: job requires 1 GPU(s) matching 'H100|A100'; host has no GPU"]


def test_quarantined_hosts_are_not_eligible_and_say_why():
    q = CPU_HOST.model_copy(update={"status": "quarantined"})
    res = match_hosts(spec(), [q])
    assert res.hosts == [] and "host is quarantined" in res.reasons[0]


def test_no_hosts_at_all():
    assert "no host is registered" in match_hosts(spec(), []).reasons[0]


def test_a_cpu_only_host_never_consumes_gpu_queues():
    assert queues_for_host(CPU_HOST) == ["pool.default"]
    assert queues_for_host(GPU_HOST) == ["pool.gpu", "gpu.nvidia-h100-80gb-hbm3", "gpu.any"]
    assert queues_for_host(FPGA_HOST) == ["pool.fpga", "fpga.xilinx-u250", "fpga.any"]


@pytest.mark.parametrize("kw,host,queue", [
    ({}, CPU_HOST, "pool.default"),
    ({"requirements": {"pool": "gpu"}}, GPU_HOST, "pool.gpu"),
    ({"requirements": {"gpu": {"count": 1}}}, GPU_HOST, "gpu.nvidia-h100-80gb-hbm3"),
    ({"requirements": {"gpu": {"count": 1}}}, None, "gpu.any"),
    ({"requirements": {"fpga": {"count": 1}}}, FPGA_HOST, "fpga.xilinx-u250"),
])
def test_job_queues(kw, host, queue):
    assert queue_for_job(spec(**kw), host) == queue


def test_slug():
    assert slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
