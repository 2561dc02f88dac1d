"""Host matching and capability queues: table-driven, pure logic."""

from __future__ import annotations

import pytest

from benchfarm.scheduler.capabilities import FpgaInfo, GpuInfo, HostCapabilities
from benchfarm.scheduler.matching import match_hosts, unmet
from benchfarm.scheduler.queues import queue_for_job, queues_for_host, slug
from benchfarm.spec.loader import load_spec_data

CPU_HOST = HostCapabilities(host_id="cpu1", pool="default", cpu_vendor="AuthenticAMD", cpu_model="AMD EPYC 7763",
                            cpu_count=8, memory_bytes=16 << 30, allowed_cap_add=["SYS_NICE"])
GPU_HOST = HostCapabilities(host_id="gpu1", pool="gpu", cpu_vendor="GenuineIntel", cpu_model="Intel Xeon Gold 6430",
                            cpu_count=32, memory_bytes=256 << 30,
                            gpus=[GpuInfo(index=0, model="NVIDIA H100 80GB HBM3"),
                                  GpuInfo(index=1, model="NVIDIA H100 80GB HBM3")],
                            allowed_devices=["/dev/nvidia*"], allowed_cap_add=["CAP_SYS_NICE", "perfmon"])
FPGA_HOST = HostCapabilities(host_id="fpga1", pool="fpga", cpu_count=16, memory_bytes=64 << 30,
                             fpgas=[FpgaInfo(vendor="xilinx", model="u250")], allowed_devices=["/dev/xclmgmt*"])
HOSTS = [CPU_HOST, GPU_HOST, FPGA_HOST]


def spec(**kw):
    return load_spec_data({"name": "j", "image": "i", **kw})


def down(host: HostCapabilities, status: str) -> HostCapabilities:
    return host.model_copy(update={"status": status})


@pytest.mark.parametrize("kw,expected", [
    ({}, ["cpu1", "gpu1", "fpga1"]),
    ({"requirements": {"pool": "gpu"}}, ["gpu1"]),
    ({"requirements": {"pool": "nowhere"}}, []),
    ({"requirements": {"gpu": {"count": 1}}}, ["gpu1"]),
    ({"requirements": {"gpu": {"count": 2, "model": "h100"}}}, ["gpu1"]),  # model patterns ignore case
    ({"requirements": {"gpu": {"count": 1, "model": "H100|A100"}}}, ["gpu1"]),
    ({"requirements": {"gpu": {"count": 1, "model": "A100"}}}, []),
    ({"requirements": {"gpu": {"count": 3}}}, []),
    ({"requirements": {"fpga": {"count": 1}}}, ["fpga1"]),
    ({"requirements": {"fpga": {"count": 1, "vendor": "Xilinx", "model": "u2[58]0"}}}, ["fpga1"]),
    ({"requirements": {"fpga": {"count": 1, "vendor": "intel"}}}, []),
    ({"requirements": {"fpga": {"count": 2}}}, []),
    ({"requirements": {"cpu_model": "epyc"}}, ["cpu1"]),
    ({"requirements": {"cpu_model": "^Intel"}}, ["gpu1"]),
    ({"requirements": {"cpu_vendor": "genuineintel"}}, ["gpu1"]),
    ({"requirements": {"min_memory": "64g"}}, ["gpu1", "fpga1"]),
    ({"requirements": {"min_memory": "100g"}}, ["gpu1"]),
    ({"resources": {"memory": "32g"}}, ["gpu1", "fpga1"]),  # a limit above the host's memory cannot be met
    ({"resources": {"cpuset": "0-7"}}, ["cpu1", "gpu1", "fpga1"]),
    ({"resources": {"cpuset": "8"}}, ["gpu1", "fpga1"]),  # cpu1 has CPUs 0-7
    ({"resources": {"cpuset": "20-21"}}, ["gpu1"]),
    ({"resources": {"cpus": 12}}, ["gpu1", "fpga1"]),
    ({"devices": [{"host_path": "/dev/xclmgmt1"}]}, ["fpga1"]),
    ({"devices": [{"host_path": "/dev/nvidia0"}, {"host_path": "/dev/nvidiactl"}]}, ["gpu1"]),
    ({"devices": [{"host_path": "/dev/mem"}]}, []),
    ({"cap_add": ["SYS_NICE"]}, ["cpu1", "gpu1"]),  # CAP_ prefix and case do not matter on either side
    ({"cap_add": ["PERFMON"]}, ["gpu1"]),
    ({"cap_add": ["SYS_ADMIN"]}, []),
])
def test_matching(kw, expected):
    res = match_hosts(spec(**kw), HOSTS)
    assert [h.host_id for h in res.hosts] == expected
    assert set(res.per_host) == {h.host_id for h in HOSTS} - set(expected)
    assert bool(res.reasons) == (not expected)


@pytest.mark.parametrize("status", ["quarantined", "maintenance", "retired", "bad"])
def test_hosts_out_of_service_are_not_eligible_and_say_why(status):
    res = match_hosts(spec(), [down(CPU_HOST, status), GPU_HOST])
    assert [h.host_id for h in res.hosts] == ["gpu1"]
    assert res.per_host["cpu1"][0].startswith("job requires a host in service, host has ")
    assert status in res.per_host["cpu1"][0]
    alone = match_hosts(spec(), [down(CPU_HOST, status)])
    assert len(alone.reasons) == 1
    assert alone.reasons[0].startswith("no registered host is in service (hosts: cpu1: ") and status in alone.reasons[0]


@pytest.mark.parametrize("status", ["good", "unknown"])
def test_good_and_unknown_hosts_are_eligible(status):
    assert match_hosts(spec(), [down(CPU_HOST, status)]).hosts


@pytest.mark.parametrize("kw,hosts,reasons", [
    # the brief's example: a GPU job on a farm of one CPU-only VM
    ({"requirements": {"gpu": {"count": 1}}}, [CPU_HOST.model_copy(update={"host_id": "vm"})],
     ["job requires 1 GPU; no registered host has a GPU (hosts: vm: 0 GPUs)"]),
    ({"requirements": {"gpu": {"count": 1, "model": "H100|A100"}}}, [CPU_HOST, FPGA_HOST],
     ["job requires 1 GPU matching 'H100|A100'; no registered host has a GPU matching 'H100|A100' "
      "(hosts: cpu1: 0 GPUs, fpga1: 0 GPUs)"]),
    ({"requirements": {"gpu": {"count": 4, "model": "H100"}}}, [GPU_HOST],
     ["job requires 4 GPUs matching 'H100'; no registered host has 4 GPUs matching 'H100' "
      "(hosts: gpu1: 2 GPUs (NVIDIA H100 80GB HBM3, NVIDIA H100 80GB HBM3))"]),
    ({"requirements": {"fpga": {"count": 1, "vendor": "intel"}}}, [FPGA_HOST],
     ["job requires 1 FPGA from intel; no registered host has an FPGA from intel "
      "(hosts: fpga1: 1 FPGA (xilinx u250))"]),
    ({"requirements": {"pool": "big"}}, [CPU_HOST],
     ["job requires pool 'big'; no registered host is in pool 'big' (hosts: cpu1: pool 'default')"]),
    ({"requirements": {"cpu_model": "Graviton"}}, [CPU_HOST],
     ["job requires a CPU model matching 'Graviton'; no registered host has such a CPU "
      "(hosts: cpu1: 'AMD EPYC 7763')"]),
    ({"requirements": {"min_memory": "1t"}}, [CPU_HOST],
     ["job requires 1024.0 GiB of memory; no registered host has that much memory (hosts: cpu1: 16.0 GiB)"]),
    ({"resources": {"cpuset": "0-15"}}, [CPU_HOST],
     ["job requires cpuset 0-15 (CPU 15); no registered host has CPU 15 (hosts: cpu1: 8 CPUs (0-7))"]),
    ({"devices": [{"host_path": "/dev/fpga0"}]}, [CPU_HOST],
     ["job requires device /dev/fpga0; no registered host has /dev/fpga0 on its device allow-list "
      "(hosts: cpu1: allow-list empty)"]),
    ({"cap_add": ["NET_ADMIN"]}, [CPU_HOST],
     ["job requires capabilities NET_ADMIN; no registered host has a policy allowing them "
      "(hosts: cpu1: allowed capabilities SYS_NICE)"]),
    # different hosts lacking different things: one line per requirement, naming the hosts that lack it
    ({"requirements": {"gpu": {"count": 1}, "min_memory": "100g"}}, [CPU_HOST, down(GPU_HOST, "maintenance")],
     ["some hosts are not in service (hosts: gpu1: in maintenance (eligible again when an operator ends it))",
      "job requires 1 GPU; lacking on cpu1: 0 GPUs",
      "job requires 100.0 GiB of memory; lacking on cpu1: 16.0 GiB"]),
    ({}, [], ["no host is registered (is a worker running? see `benchfarm hosts list` and `benchfarm stack status`)"]),
])
def test_refusals_name_the_unmet_requirement(kw, hosts, reasons):
    res = match_hosts(spec(**kw), hosts)
    assert res.hosts == [] and not res.ok
    assert res.reasons == reasons


def test_a_host_of_unknown_memory_is_not_refused_for_memory():
    unknown = CPU_HOST.model_copy(update={"memory_bytes": 0})
    assert match_hosts(spec(resources={"memory": "1g"}), [unknown]).hosts == [unknown]


def test_per_host_reasons_list_every_unmet_requirement():
    s = spec(requirements={"pool": "gpu", "gpu": {"count": 1}}, cap_add=["NET_RAW"])
    assert [u.key for u in unmet(s, CPU_HOST)] == ["pool", "gpu", "cap_add"]
    assert match_hosts(s, [CPU_HOST]).per_host["cpu1"] == [
        "job requires pool 'gpu', host has pool 'default'",
        "job requires 1 GPU, host has 0 GPUs",
        "job requires capabilities NET_RAW, host has allowed capabilities SYS_NICE",
    ]


def test_the_gpu_example_is_refused_on_a_cpu_only_farm():
    from pathlib import Path

    from benchfarm.spec.loader import load_spec_file

    gpu = load_spec_file(Path(__file__).resolve().parents[2] / "examples" / "gpu-matmul.yaml")
    res = match_hosts(gpu, [CPU_HOST])
    assert res.reasons == ["job requires 1 GPU matching 'H100|A100'; no registered host has a GPU matching "
                           "'H100|A100' (hosts: cpu1: 0 GPUs)"]
    assert [h.host_id for h in match_hosts(gpu, HOSTS).hosts] == ["gpu1"]


# ---------------------------------------------------------------------------- queues
@pytest.mark.parametrize("host,queues", [
    (CPU_HOST, ["pool.default"]),
    (GPU_HOST, ["pool.gpu", "gpu.nvidia-h100-80gb-hbm3", "gpu.any"]),
    (FPGA_HOST, ["pool.fpga", "fpga.xilinx-u250", "fpga.any"]),
    (HostCapabilities(host_id="mixed", pool="Lab 2", gpus=[GpuInfo(index=0, model="NVIDIA A100-SXM4-40GB"),
                                                           GpuInfo(index=1, model="Tesla T4")],
                      fpgas=[FpgaInfo(vendor="intel", model="PAC D5005")]),
     ["pool.lab-2", "gpu.nvidia-a100-sxm4-40gb", "gpu.tesla-t4", "gpu.any", "fpga.intel-pac-d5005", "fpga.any"]),
])
def test_queues_for_host(host, queues):
    assert queues_for_host(host) == queues


def test_a_cpu_only_host_never_consumes_accelerator_queues():
    assert not [q for q in queues_for_host(CPU_HOST) if q.startswith(("gpu.", "fpga."))]


MIXED_GPUS = HostCapabilities(host_id="m", gpus=[GpuInfo(index=0, model="Tesla T4"),
                                                 GpuInfo(index=1, model="NVIDIA A100-SXM4-40GB")])


@pytest.mark.parametrize("kw,host,queue", [
    ({}, CPU_HOST, "pool.default"),
    ({}, None, "pool.default"),
    ({"requirements": {"pool": "gpu"}}, GPU_HOST, "pool.gpu"),
    ({"requirements": {"pool": "big"}}, None, "pool.big"),
    ({}, FPGA_HOST, "pool.fpga"),
    ({"requirements": {"gpu": {"count": 1}}}, GPU_HOST, "gpu.nvidia-h100-80gb-hbm3"),
    ({"requirements": {"gpu": {"count": 1}}}, None, "gpu.any"),
    ({"requirements": {"gpu": {"count": 1, "model": "A100"}}}, MIXED_GPUS, "gpu.nvidia-a100-sxm4-40gb"),
    ({"requirements": {"fpga": {"count": 1}}}, FPGA_HOST, "fpga.xilinx-u250"),
    ({"requirements": {"fpga": {"count": 1}}}, None, "fpga.any"),
])
def test_job_queues(kw, host, queue):
    assert queue_for_job(spec(**kw), host) == queue


def test_a_job_dict_is_queued_like_its_model():
    assert queue_for_job({"requirements": {"gpu": {"count": 1}}}, None) == "gpu.any"


@pytest.mark.parametrize("text,expected", [
    ("NVIDIA H100 80GB HBM3", "nvidia-h100-80gb-hbm3"), ("  A100--SXM4 ", "a100-sxm4"), ("???", "unknown"),
])
def test_slug(text, expected):
    assert slug(text) == expected
