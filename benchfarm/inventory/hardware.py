"""Local hardware detection: what this host has, read from /proc, /sys and NVML.

Plain Python (no Salt): the Salt grains in ``salt/_grains/benchfarm_grains.py`` call it
on every minion, and the one-host farm calls it directly. Every reader takes a
``proc_root``/``sysfs_root``/``cgroup_root`` so tests run it on recorded fixture trees.

CPUs and memory are what this process may *use*, not what the machine has: a farm
node is a container that sees the whole machine's /proc/cpuinfo and /proc/meminfo,
while its cgroup confines it to its own CPU set and memory limit. So the CPU count
is the cpuset of the process's own cgroup (named in ``<proc_root>/self/cgroup``) and
memory is the smaller of ``MemTotal`` and the cgroup's limit (``benchfarm.cgroupfs``).
Where the cgroup cannot be read, /proc alone decides, as on a bare host.

GPUs come from a lister passed in: the NVML adapter's ``benchfarm.adapters.nvml.list_gpus``
(the only code that touches ``pynvml``), chosen by the caller (the composition root,
the Salt grains), since domain code imports no adapter; tests pass a fake with its
contract. A host without the library, the driver or a GPU gets an empty GPU list,
never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchfarm import cgroupfs
from benchfarm.errors import ServiceUnavailableError, SetupError
from benchfarm.scheduler.capabilities import ContainerPolicy, FpgaInfo, GpuInfo, HostCapabilities

log = logging.getLogger(__name__)


class GpuFacts(Protocol):
    """What detection reads of one GPU (``benchfarm.adapters.nvml.GpuIdentity`` has these)."""

    @property
    def index(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def uuid(self) -> str: ...
    @property
    def memory_bytes(self) -> int: ...
    @property
    def driver_version(self) -> str: ...


GpuLister = Callable[[], Iterable[GpuFacts]]
"""Lists the GPUs: ``benchfarm.adapters.nvml.list_gpus`` (or a fake with its contract).

Raises ``SetupError`` when the host has no usable GPU stack, ``ServiceUnavailableError``
when a GPU stops answering mid-listing (after yielding the GPUs read before it).
"""

PROC_ROOT = Path("/proc")
SYSFS_ROOT = Path("/sys")
CGROUP_ROOT = cgroupfs.CGROUP_ROOT

# PCI vendor ids of FPGA card makers -> the vendor name the scheduler matches on
FPGA_PCI_VENDORS: dict[str, str] = {"0x10ee": "xilinx", "0x1172": "intel"}
# PCI device ids of well-known cards -> marketing model (unknown ids keep the hex id)
FPGA_PCI_MODELS: dict[tuple[str, str], str] = {
    ("0x10ee", "0x5004"): "u250",  # Alveo U250 (XDMA shell, mgmt PF)
    ("0x10ee", "0x5005"): "u250",  # Alveo U250 (user PF)
    ("0x10ee", "0x500c"): "u280",
    ("0x10ee", "0x500d"): "u280",
    ("0x10ee", "0x5020"): "u50",
    ("0x10ee", "0x5021"): "u50",
    ("0x10ee", "0x5048"): "u55c",
    ("0x10ee", "0x5049"): "u55c",
    ("0x1172", "0x09c4"): "pac-a10",  # Intel PAC with Arria 10 GX
    ("0x1172", "0x0b2b"): "d5005",  # Intel FPGA PAC D5005
}
# block devices that are not disks a benchmark could use
_VIRTUAL_BLOCK_PREFIXES = ("loop", "ram", "zram", "nbd", "dm-", "sr", "fd")
_SECTOR_BYTES = 512  # /sys/block/*/size is always in 512-byte sectors


@dataclass(frozen=True)
class CpuInfo:
    """The CPUs this host may use: model and flags from /proc/cpuinfo, count and set from its cgroup's cpuset."""

    vendor: str = ""
    model: str = ""
    count: int = 1
    flags: list[str] = field(default_factory=list)
    cpuset: str = ""  # kernel CPU list (``0-3``) of the cgroup's cpuset; "" when it cannot be read


@dataclass(frozen=True)
class DiskInfo:
    """One block device."""

    name: str
    size_bytes: int
    rotational: bool


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def detect_cpu(proc_root: Path = PROC_ROOT, cgroup_root: Path = CGROUP_ROOT) -> CpuInfo:
    """Parse ``/proc/cpuinfo`` (vendor, model name, flags of the first CPU) and count the CPUs this process may use.

    The count and ``cpuset`` come from the cpuset of this process's cgroup
    (``<proc_root>/self/cgroup`` under ``cgroup_root``); where that cannot be read,
    the count is the processors /proc/cpuinfo lists. Returns an empty ``CpuInfo``
    (count 1) when neither can be read.
    """
    cpus = cgroupfs.effective_cpus(root=Path(cgroup_root), proc_root=Path(proc_root))
    cpuset = cgroupfs.format_cpu_list(cpus) if cpus else ""
    text = _read(Path(proc_root) / "cpuinfo")
    if text is None:
        log.warning("cannot read %s/cpuinfo; CPU unknown", proc_root)
        return CpuInfo(count=len(cpus), cpuset=cpuset) if cpus else CpuInfo()
    blocks = [b for b in text.split("\n\n") if b.strip()]
    processors = 0
    first: dict[str, str] = {}
    for block in blocks:
        entry: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry[key.strip()] = value.strip()
        if "processor" in entry:
            processors += 1
            if not first:
                first = entry
    # x86 says vendor_id/model name/flags; arm64 says CPU implementer/Features
    vendor = first.get("vendor_id") or first.get("CPU implementer", "")
    model = first.get("model name") or first.get("Model", "") or first.get("cpu model", "")
    flags = (first.get("flags") or first.get("Features", "")).split()
    count = len(cpus) if cpus else max(processors, 1)
    return CpuInfo(vendor=vendor, model=model, count=count, flags=sorted(set(flags)), cpuset=cpuset)


def detect_numa_nodes(sysfs_root: Path = SYSFS_ROOT) -> int:
    """Count NUMA nodes under ``/sys/devices/system/node`` (1 when the kernel has no NUMA)."""
    node_dir = Path(sysfs_root) / "devices" / "system" / "node"
    try:
        nodes = [p for p in node_dir.iterdir() if p.name.startswith("node") and p.name[4:].isdigit()]
    except OSError:
        return 1
    return max(len(nodes), 1)


def detect_memory_bytes(proc_root: Path = PROC_ROOT, cgroup_root: Path = CGROUP_ROOT) -> int:
    """The memory this process may use, in bytes: ``MemTotal`` of ``/proc/meminfo``, or its cgroup's limit if smaller.

    The limit is the tightest on this process's cgroup and its ancestors (v1
    ``memory.limit_in_bytes``, v2 ``memory.max``; "no limit" ignored). 0 when
    neither can be read.
    """
    total = 0
    text = _read(Path(proc_root) / "meminfo") or ""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            unit = parts[2].lower() if len(parts) > 2 else "b"
            factor = {"kb": 1024, "mb": 1024**2, "gb": 1024**3}.get(unit, 1)
            total = int(parts[1]) * factor
            break
    limit = cgroupfs.memory_limit(root=Path(cgroup_root), proc_root=Path(proc_root))
    if limit is None:
        return total
    return min(total, limit) if total else limit


def detect_disks(sysfs_root: Path = SYSFS_ROOT) -> list[DiskInfo]:
    """Block devices under ``/sys/block``, skipping virtual ones (loop, ram, zram, dm, ...)."""
    block_dir = Path(sysfs_root) / "block"
    try:
        names = sorted(p.name for p in block_dir.iterdir())
    except OSError:
        return []
    disks = []
    for name in names:
        if name.startswith(_VIRTUAL_BLOCK_PREFIXES):
            continue
        size = _read(block_dir / name / "size")
        rotational = _read(block_dir / name / "queue" / "rotational")
        disks.append(
            DiskInfo(
                name=name,
                size_bytes=int(size) * _SECTOR_BYTES if size and size.isdigit() else 0,
                rotational=rotational == "1",
            )
        )
    return disks


def detect_fpgas(sysfs_root: Path = SYSFS_ROOT, dev_root: Path = Path("/dev")) -> list[FpgaInfo]:
    """FPGA cards on the PCI bus: devices whose vendor is Xilinx/AMD (0x10ee) or Intel/Altera (0x1172).

    A card exposing several PCI functions (management and user) is one card: only
    function 0 of each slot is listed. ``device_path`` is set when the Xilinx
    management driver exposes ``/dev/xclmgmt<bdf-number>``.
    """
    pci_dir = Path(sysfs_root) / "bus" / "pci" / "devices"
    try:
        addresses = sorted(p.name for p in pci_dir.iterdir())
    except OSError:
        return []
    fpgas = []
    for address in addresses:
        vendor_id = (_read(pci_dir / address / "vendor") or "").lower()
        vendor = FPGA_PCI_VENDORS.get(vendor_id)
        if vendor is None or not address.endswith(".0"):
            continue
        device_id = (_read(pci_dir / address / "device") or "").lower()
        model = FPGA_PCI_MODELS.get((vendor_id, device_id), device_id.removeprefix("0x") or "unknown")
        fpgas.append(
            FpgaInfo(vendor=vendor, model=model, pci_address=address, device_path=_xclmgmt_path(address, dev_root))
        )
    return fpgas


def _xclmgmt_path(address: str, dev_root: Path) -> str | None:
    # XRT names the node after the BDF: bus<<8 | device<<3 | function, e.g. 0000:3b:00.0 -> xclmgmt15104
    try:
        _domain, bus, devfn = address.split(":")
        dev, fn = devfn.split(".")
        number = (int(bus, 16) << 8) | (int(dev, 16) << 3) | int(fn, 16)
    except ValueError:
        return None
    path = Path(dev_root) / f"xclmgmt{number}"
    return str(path) if path.exists() else None


def detect_gpus(list_gpus: GpuLister) -> list[GpuInfo]:
    """NVIDIA GPUs as ``list_gpus`` lists them; an empty list when the library, the driver or a GPU is absent.

    A GPU that stops answering mid-listing leaves the GPUs read before it (and a warning).

    Args:
        list_gpus: ``benchfarm.adapters.nvml.list_gpus`` (tests pass a fake with its contract).
    """
    gpus: list[GpuInfo] = []
    try:
        for gpu in list_gpus():
            gpus.append(GpuInfo(index=gpu.index, model=gpu.name, uuid=gpu.uuid, memory_bytes=gpu.memory_bytes,
                                driver_version=gpu.driver_version))
    except SetupError as exc:  # no library, no driver: no usable GPU here
        log.debug("no GPUs detected: %s", exc.message)
    except ServiceUnavailableError as exc:  # a GPU that falls off the bus mid-query: report what was read
        log.warning("NVML query failed after %d GPU(s): %s", len(gpus), exc.message)
    return gpus


@dataclass(frozen=True)
class Hardware:
    """Everything detected on one host."""

    cpu: CpuInfo
    numa_nodes: int
    memory_bytes: int
    disks: list[DiskInfo]
    gpus: list[GpuInfo]
    fpgas: list[FpgaInfo]

    def as_grains(self) -> dict[str, Any]:
        """The ``benchfarm_*`` grains (plain JSON-able values)."""
        return {
            "benchfarm_cpu": asdict(self.cpu),
            "benchfarm_numa_nodes": self.numa_nodes,
            "benchfarm_memory_bytes": self.memory_bytes,
            "benchfarm_disks": [asdict(d) for d in self.disks],
            "benchfarm_gpus": [g.model_dump() for g in self.gpus],
            "benchfarm_fpgas": [f.model_dump() for f in self.fpgas],
        }


def detect(
    proc_root: Path = PROC_ROOT,
    sysfs_root: Path = SYSFS_ROOT,
    dev_root: Path = Path("/dev"),
    *,
    list_gpus: GpuLister,
    cgroup_root: Path = CGROUP_ROOT,
) -> Hardware:
    """Detect all of this host's hardware (see the ``detect_*`` functions).

    Args:
        proc_root, sysfs_root, dev_root, cgroup_root: where to read from (tests pass fixture trees).
        list_gpus: lists the GPUs: ``benchfarm.adapters.nvml.list_gpus`` (tests pass a fake).
    """
    return Hardware(
        cpu=detect_cpu(proc_root, cgroup_root),
        numa_nodes=detect_numa_nodes(sysfs_root),
        memory_bytes=detect_memory_bytes(proc_root, cgroup_root),
        disks=detect_disks(sysfs_root),
        gpus=detect_gpus(list_gpus),
        fpgas=detect_fpgas(sysfs_root, dev_root),
    )


def capabilities_from(
    hardware: Hardware,
    *,
    host_id: str,
    pool: str = "default",
    allowed_devices: Iterable[str] = (),
    allowed_cap_add: Iterable[str] = (),
    max_concurrent_jobs: int = 1,
    status: str = "good",
    policy: ContainerPolicy | None = None,
) -> HostCapabilities:
    """The scheduler's capability record for detected ``hardware``, with the host's ``policy`` for job
    containers (networks, pids and memory limits; the defaults when None)."""
    return HostCapabilities(
        **(policy or ContainerPolicy()).model_dump(),
        host_id=host_id,
        pool=pool,
        cpu_vendor=hardware.cpu.vendor,
        cpu_model=hardware.cpu.model,
        cpu_count=hardware.cpu.count,
        cpu_flags=list(hardware.cpu.flags),
        numa_nodes=hardware.numa_nodes,
        memory_bytes=hardware.memory_bytes,
        gpus=list(hardware.gpus),
        fpgas=list(hardware.fpgas),
        allowed_devices=list(allowed_devices),
        allowed_cap_add=list(allowed_cap_add),
        max_concurrent_jobs=max_concurrent_jobs,
        status=status,
    )


def detect_capabilities(
    pool: str = "default",
    *,
    list_gpus: GpuLister,
    host_id: str | None = None,
    allowed_devices: Iterable[str] = (),
    allowed_cap_add: Iterable[str] = (),
    max_concurrent_jobs: int = 1,
    policy: ContainerPolicy | None = None,
    proc_root: Path = PROC_ROOT,
    sysfs_root: Path = SYSFS_ROOT,
    dev_root: Path = Path("/dev"),
    cgroup_root: Path = CGROUP_ROOT,
) -> HostCapabilities:
    """Detect this host's hardware and return its ``HostCapabilities`` in ``pool``.

    Args:
        pool: the pool the host belongs to.
        list_gpus: lists the GPUs: ``benchfarm.adapters.nvml.list_gpus`` (tests pass a fake).
        host_id: defaults to the host name.
        allowed_devices: device nodes (paths or globs) jobs may map into containers.
        allowed_cap_add: Linux capabilities jobs may add.
        max_concurrent_jobs: benchmarks at once (1: the host lock serialises them).
        policy: networks and limits of job containers (``Settings.container_policy()``; None: the defaults).
        proc_root, sysfs_root, dev_root, cgroup_root: where to read from (tests pass fixture trees).
    """
    import socket

    hardware = detect(proc_root, sysfs_root, dev_root, list_gpus=list_gpus, cgroup_root=cgroup_root)
    return capabilities_from(
        hardware,
        host_id=host_id or socket.gethostname(),
        pool=pool,
        allowed_devices=allowed_devices,
        allowed_cap_add=allowed_cap_add,
        max_concurrent_jobs=max_concurrent_jobs,
        policy=policy,
    )


def capabilities_from_grains(grains: dict[str, Any], *, host_id: str | None = None) -> HostCapabilities:
    """Build ``HostCapabilities`` from a minion's grains (the inventory reads them from Salt).

    Static grains under ``benchfarm:`` (``allowed_devices``, ``allowed_cap_add``,
    ``max_concurrent_jobs``, ``status``, and the container policy under its setting names:
    ``allowed_networks``, ``default_pids_limit``, ``max_pids_limit``, ``default_memory``,
    ``max_memory``, ``reserved_memory``) complete the detected ``benchfarm_*`` ones.
    """
    static = grains.get("benchfarm") or {}
    cpu = grains.get("benchfarm_cpu") or {}
    try:
        policy = ContainerPolicy.from_config(static)
    except ValueError as exc:  # pydantic's ValidationError: a bad grain gets the (strict) defaults, not a crash
        log.warning("host %s: container policy grains ignored, the defaults apply: %s", grains.get("id"), exc)
        policy = ContainerPolicy()
    return HostCapabilities(
        **policy.model_dump(),
        host_id=host_id or grains.get("id") or "",
        pool=grains.get("benchfarm_pool") or static.get("pool") or "default",
        cpu_vendor=cpu.get("vendor", ""),
        cpu_model=cpu.get("model", ""),
        cpu_count=cpu.get("count", 1),
        cpu_flags=list(cpu.get("flags", [])),
        numa_nodes=grains.get("benchfarm_numa_nodes", 1),
        memory_bytes=grains.get("benchfarm_memory_bytes", 0),
        gpus=[GpuInfo(**g) for g in grains.get("benchfarm_gpus") or []],
        fpgas=[FpgaInfo(**f) for f in grains.get("benchfarm_fpgas") or []],
        allowed_devices=list(static.get("allowed_devices", [])),
        allowed_cap_add=list(static.get("allowed_cap_add", [])),
        max_concurrent_jobs=int(static.get("max_concurrent_jobs", 1)),
        status=static.get("status", "good"),
    )
