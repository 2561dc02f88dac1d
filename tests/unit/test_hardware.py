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
