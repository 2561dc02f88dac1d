"""Hardware detection on recorded (amd-epyc-vm) and constructed (xeon-fpga) fixture trees."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from benchfarm.adapters import nvml
from benchfarm.adapters.nvml import GpuIdentity
from benchfarm.errors import ServiceUnavailableError, SetupError
from benchfarm.inventory import hardware
from benchfarm.scheduler.capabilities import HostCapabilities

HOSTS = Path(__file__).resolve().parent.parent / "fixtures" / "salt" / "hosts"
VM = HOSTS / "amd-epyc-vm"
FPGA = HOSTS / "xeon-fpga"


@pytest.mark.parametrize(
    "root, vendor, model, count, numa, memory_kb",
    [
        (VM, "AuthenticAMD", "AMD EPYC", 2, 1, 24684092),
        (FPGA, "GenuineIntel", "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", 4, 2, 196608000),
    ],
)
def test_cpu_numa_memory(root, vendor, model, count, numa, memory_kb):
    cpu = hardware.detect_cpu(root / "proc")
    assert (cpu.vendor, cpu.model, cpu.count) == (vendor, model, count)
    assert {"sse4_2", "avx2", "avx512f"} <= set(cpu.flags)
    assert cpu.flags == sorted(cpu.flags)
    assert hardware.detect_numa_nodes(root / "sys") == numa
    assert hardware.detect_memory_bytes(root / "proc") == memory_kb * 1024


def test_missing_files_degrade():
    missing = Path("/nonexistent-benchfarm")
    assert hardware.detect_cpu(missing) == hardware.CpuInfo()
    assert hardware.detect_numa_nodes(missing) == 1
    assert hardware.detect_memory_bytes(missing) == 0
    assert hardware.detect_disks(missing) == []
    assert hardware.detect_fpgas(missing) == []


def test_disks_skip_virtual_devices():
    assert hardware.detect_disks(VM / "sys") == [hardware.DiskInfo("vda", 536870912 * 512, True)]
    assert hardware.detect_disks(FPGA / "sys") == [
        hardware.DiskInfo("nvme0n1", 3750748848 * 512, False),
        hardware.DiskInfo("sda", 7814037168 * 512, True),
    ]


def test_fpgas_one_per_card_with_vendor_model_and_device_node():
    fpgas = hardware.detect_fpgas(FPGA / "sys", FPGA / "dev")
    assert [(f.vendor, f.model, f.pci_address) for f in fpgas] == [
        ("xilinx", "u250", "0000:3b:00.0"),
        ("intel", "d5005", "0000:af:00.0"),
    ]
    assert fpgas[0].device_path == str(FPGA / "dev" / "xclmgmt15104")
    assert fpgas[1].device_path is None


def test_no_fpga_on_the_recorded_vm():
    assert hardware.detect_fpgas(VM / "sys", VM / "dev") == []


class _NvmlError(Exception):
    """Stands in for pynvml.NVMLError in the fake NVML library below."""


def _no_gpu_here():
    """A GPU lister as the NVML adapter behaves on a host without the driver."""
    raise SetupError("NVML could not start: Driver Not Loaded")


def _lister(*gpus: GpuIdentity, then: Exception | None = None):
    def list_gpus():
        yield from gpus
        if then is not None:
            raise then

    return list_gpus


H100 = [GpuIdentity(i, "NVIDIA H100 80GB HBM3", f"GPU-{i}", 85899345920, "550.54.15") for i in range(2)]


@pytest.mark.parametrize(
    "lister, expected",
    [
        (_no_gpu_here, []),
        (_lister(*H100),
         [(0, "NVIDIA H100 80GB HBM3", "GPU-0", "550.54.15"), (1, "NVIDIA H100 80GB HBM3", "GPU-1", "550.54.15")]),
        # a GPU falling off the bus mid-listing: what was read stands
        (_lister(H100[0], then=ServiceUnavailableError("NVML nvmlDeviceGetName failed")),
         [(0, "NVIDIA H100 80GB HBM3", "GPU-0", "550.54.15")]),
    ],
)
def test_gpus_from_the_nvml_adapter(lister, expected):
    gpus = hardware.detect_gpus(lister)
    assert [(g.index, g.model, g.uuid, g.driver_version) for g in gpus] == expected
    assert all(g.vendor == "nvidia" and g.memory_bytes == 85899345920 for g in gpus)


def test_gpus_on_this_machine_are_an_empty_list_not_an_error():
    # the real adapter and pynvml: no driver here (a GPU machine would list its GPUs)
    assert isinstance(hardware.detect_gpus(nvml.list_gpus), list)


def _fake_pynvml(calls: list[str], init=None) -> SimpleNamespace:
    """The calls nvml.list_gpus makes, recorded (unit test of the adapter's translation)."""
    return SimpleNamespace(
        NVMLError=_NvmlError,
        nvmlInit=init or (lambda: calls.append("init")),
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlSystemGetDriverVersion=lambda: b"550.54.15",
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: "NVIDIA H100 80GB HBM3",
        nvmlDeviceGetUUID=lambda h: f"GPU-{h}".encode(),
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(total=85899345920),
    )


def test_adapter_lists_gpus_in_one_init_shutdown_pair(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(nvml, "pynvml", _fake_pynvml(calls))
    assert list(nvml.list_gpus()) == H100
    assert calls == ["init", "shutdown"]


def test_adapter_without_nvml_raises_setup_error(monkeypatch):
    def fail():
        raise _NvmlError("NVML Shared Library Not Found")

    calls: list[str] = []
    monkeypatch.setattr(nvml, "pynvml", _fake_pynvml(calls, init=fail))
    with pytest.raises(SetupError, match="NVML could not start"):
        list(nvml.list_gpus())
    assert calls == []  # nothing to shut down


def test_detect_capabilities_builds_the_scheduler_record():
    caps = hardware.detect_capabilities(
        "fpga", host_id="node-f", allowed_devices=["/dev/xclmgmt*"], proc_root=FPGA / "proc",
        sysfs_root=FPGA / "sys", dev_root=FPGA / "dev", list_gpus=_no_gpu_here,
    )
    assert isinstance(caps, HostCapabilities)
    assert (caps.host_id, caps.pool, caps.cpu_count, caps.numa_nodes) == ("node-f", "fpga", 4, 2)
    assert [f.model for f in caps.fpgas] == ["u250", "d5005"]
    assert caps.gpus == [] and caps.allowed_devices == ["/dev/xclmgmt*"]


def test_grains_round_trip_to_capabilities():
    hw = hardware.detect(FPGA / "proc", FPGA / "sys", FPGA / "dev", list_gpus=_no_gpu_here)
    grains = {**hw.as_grains(), "id": "node-f", "benchfarm_pool": "fpga", "benchfarm": {"max_concurrent_jobs": 2}}
    caps = hardware.capabilities_from_grains(grains)
    assert caps == hardware.capabilities_from(hw, host_id="node-f", pool="fpga", max_concurrent_jobs=2)


# ---- effective capacity: what this process's cgroup lets it use (a farm node sees the whole machine in /proc) --

NODE = HOSTS / "node-cpus0-1g"  # recorded inside `benchfarm nodes add t-cap --cpus 0 --memory 1g` on the VM
GIB = 1 << 30
FPGA_MEM = 196608000 * 1024  # MemTotal of xeon-fpga/proc/meminfo


def test_recorded_node_reports_its_cpuset_and_memory_limit_not_the_machine():
    hw = hardware.detect(NODE / "proc", NODE / "sys", NODE / "dev", list_gpus=_no_gpu_here, cgroup_root=NODE / "cgroup")
    machine = hardware.detect_cpu(NODE / "proc", cgroup_root=Path("/nonexistent-benchfarm"))
    assert machine.count == 2 and hardware.detect_memory_bytes(NODE / "proc", Path("/nonexistent-benchfarm")) > GIB
    assert (hw.cpu.count, hw.cpu.cpuset, hw.memory_bytes) == (1, "0", GIB)
    assert (hw.cpu.model, hw.cpu.flags) == (machine.model, machine.flags)  # the model still from /proc/cpuinfo
    caps = hardware.detect_capabilities("p", host_id="t-cap", proc_root=NODE / "proc", sysfs_root=NODE / "sys",
                                        dev_root=NODE / "dev", cgroup_root=NODE / "cgroup", list_gpus=_no_gpu_here)
    assert (caps.cpu_count, caps.memory_bytes) == (1, GIB)
    assert hardware.capabilities_from_grains({**hw.as_grains(), "id": "t-cap"}).cpu_count == 1


def _tree(tmp_path: Path, self_cgroup: str, files: dict[str, str], *, v2: bool) -> tuple[Path, Path]:
    """(proc_root, cgroup_root): xeon-fpga's cpuinfo and meminfo (4 CPUs, 187.5 GiB), this self/cgroup and files."""
    proc, cg = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    for name in ("cpuinfo", "meminfo"):
        (proc / name).write_text((FPGA / "proc" / name).read_text())
    (proc / "self" / "cgroup").write_text(self_cgroup)
    cg.mkdir()
    if v2:
        (cg / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    for rel, text in files.items():
        (cg / rel).parent.mkdir(parents=True, exist_ok=True)
        (cg / rel).write_text(text + "\n")
    return proc, cg


V1_SELF = "4:memory:/docker/n\n3:cpuset:/docker/n\n2:cpu,cpuacct:/docker/n\n0::/\n"
V2_SELF = "0::/docker/n/init\n"
V1_UNLIMITED = "9223372036854771712"


@pytest.mark.parametrize(
    "self_cgroup, files, v2, count, cpuset, memory",
    [
        # v1 node: own cpuset and limit
        (V1_SELF, {"cpuset/docker/n/cpuset.effective_cpus": "1,3", "memory/memory.limit_in_bytes": V1_UNLIMITED,
                   "memory/docker/n/memory.limit_in_bytes": str(2 * GIB)}, False, 2, "1,3", 2 * GIB),
        # v1 without limits: the machine's
        (V1_SELF, {"cpuset/docker/n/cpuset.effective_cpus": "0-3",
                   "memory/docker/n/memory.limit_in_bytes": V1_UNLIMITED}, False, 4, "0-3", FPGA_MEM),
        # v1: a limit above MemTotal does not raise it
        (V1_SELF, {"memory/docker/n/memory.limit_in_bytes": str(512 * GIB)}, False, 4, "", FPGA_MEM),
        # v1: an ancestor's limit is tighter than the cgroup's own
        ("4:memory:/farm/n\n", {"memory/farm/memory.limit_in_bytes": str(GIB // 2),
                                "memory/farm/n/memory.limit_in_bytes": V1_UNLIMITED}, False, 4, "", GIB // 2),
        # v1: the kernel's hierarchical limit sees ancestors above the mount
        ("4:memory:/docker/n\n", {"memory/docker/n/memory.limit_in_bytes": V1_UNLIMITED,
                                  "memory/docker/n/memory.stat": f"cache 0\nhierarchical_memory_limit {GIB}"},
         False, 4, "", GIB),
        # v1: only cpuset.cpus (no effective_cpus file)
        (V1_SELF, {"cpuset/docker/n/cpuset.cpus": "2"}, False, 1, "2", FPGA_MEM),
        # v1 container whose own cgroup is mounted as the root (no cgroup namespace): /docker/n is absent
        (V1_SELF, {"cpuset/cpuset.effective_cpus": "0-1", "memory/memory.limit_in_bytes": str(3 * GIB)},
         False, 2, "0-1", 3 * GIB),
        # v2 node: processes in <node>/init, cpuset and limit on the node's cgroup
        (V2_SELF, {"docker/n/cpuset.cpus.effective": "1-2", "docker/n/memory.max": str(2 * GIB),
                   "docker/n/init/memory.max": "max"}, True, 2, "1-2", 2 * GIB),
        # v2 without limits
        (V2_SELF, {"docker/n/init/cpuset.cpus.effective": "0-3", "docker/n/init/memory.max": "max",
                   "docker/n/memory.max": "max"}, True, 4, "0-3", FPGA_MEM),
        # v2: the own cgroup's tighter limit wins
        (V2_SELF, {"docker/n/memory.max": str(2 * GIB), "docker/n/init/memory.max": str(GIB)}, True, 4, "", GIB),
        # unreadable: /proc alone decides
        ("garbage\n", {}, False, 4, "", FPGA_MEM),
        ("4:memory:/gone\n3:cpuset:/gone\n", {}, False, 4, "", FPGA_MEM),
    ],
)
def test_effective_capacity(tmp_path, self_cgroup, files, v2, count, cpuset, memory):
    proc, cg = _tree(tmp_path, self_cgroup, files, v2=v2)
    cpu = hardware.detect_cpu(proc, cg)
    assert (cpu.count, cpu.cpuset, hardware.detect_memory_bytes(proc, cg)) == (count, cpuset, memory)
    assert cpu.model == "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz"


def test_cgroup_alone_when_proc_files_are_missing(tmp_path):
    proc, cg = _tree(tmp_path, V1_SELF, {"cpuset/docker/n/cpuset.effective_cpus": "5",
                                         "memory/docker/n/memory.limit_in_bytes": str(GIB)}, v2=False)
    (proc / "cpuinfo").unlink()
    (proc / "meminfo").unlink()
    assert hardware.detect_cpu(proc, cg) == hardware.CpuInfo(count=1, cpuset="5")
    assert hardware.detect_memory_bytes(proc, cg) == GIB


def test_this_machine_for_real_stays_within_its_cpus_and_memtotal():
    import os

    from benchfarm.cgroupfs import parse_cpu_list

    cpu = hardware.detect_cpu()
    assert 1 <= cpu.count <= (os.cpu_count() or 1)
    if cpu.cpuset:  # this process may run only where its cgroup's cpuset allows
        assert set(os.sched_getaffinity(0)) <= parse_cpu_list(cpu.cpuset)
    assert 0 < hardware.detect_memory_bytes() <= hardware.detect_memory_bytes(cgroup_root=Path("/nonexistent"))
