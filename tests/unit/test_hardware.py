"""Hardware detection on recorded (amd-epyc-vm) and constructed (xeon-fpga) fixture trees."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

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
    pass


def test_gpus_empty_when_nvml_cannot_initialise():
    def fail():
        raise _NvmlError("NVML Shared Library Not Found")

    assert hardware.detect_gpus(SimpleNamespace(nvmlInit=fail)) == []


def test_gpus_on_this_machine_are_an_empty_list_not_an_error():
    # the real pynvml: no driver here (a GPU machine would list its GPUs)
    assert isinstance(hardware.detect_gpus(), list)


def test_gpus_from_nvml_calls():
    calls = []
    nvml = SimpleNamespace(
        nvmlInit=lambda: calls.append("init"),
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlSystemGetDriverVersion=lambda: b"550.54.15",
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: "NVIDIA H100 80GB HBM3",
        nvmlDeviceGetUUID=lambda h: f"GPU-{h}",
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(total=85899345920),
    )
    gpus = hardware.detect_gpus(nvml)
    assert [(g.index, g.model, g.uuid, g.driver_version) for g in gpus] == [
        (0, "NVIDIA H100 80GB HBM3", "GPU-0", "550.54.15"),
        (1, "NVIDIA H100 80GB HBM3", "GPU-1", "550.54.15"),
    ]
    assert calls == ["init", "shutdown"]


def test_detect_capabilities_builds_the_scheduler_record():
    caps = hardware.detect_capabilities(
        "fpga", host_id="node-f", allowed_devices=["/dev/xclmgmt*"], proc_root=FPGA / "proc",
        sysfs_root=FPGA / "sys", dev_root=FPGA / "dev", nvml=SimpleNamespace(nvmlInit=_raise),
    )
    assert isinstance(caps, HostCapabilities)
    assert (caps.host_id, caps.pool, caps.cpu_count, caps.numa_nodes) == ("node-f", "fpga", 4, 2)
    assert [f.model for f in caps.fpgas] == ["u250", "d5005"]
    assert caps.gpus == [] and caps.allowed_devices == ["/dev/xclmgmt*"]


def test_grains_round_trip_to_capabilities():
    hw = hardware.detect(FPGA / "proc", FPGA / "sys", FPGA / "dev", nvml=SimpleNamespace(nvmlInit=_raise))
    grains = {**hw.as_grains(), "id": "node-f", "benchfarm_pool": "fpga", "benchfarm": {"max_concurrent_jobs": 2}}
    caps = hardware.capabilities_from_grains(grains)
    assert caps == hardware.capabilities_from(hw, host_id="node-f", pool="fpga", max_concurrent_jobs=2)


def _raise():
    raise _NvmlError("Driver Not Loaded")
