"""What a host can run: the capability record the scheduler matches jobs against.

Produced from Salt grains on a real farm (``benchfarm.inventory``) or by local
hardware detection on the one-host farm; consumed by job matching and by the
worker to decide which Celery queues it consumes.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class GpuInfo(BaseModel):
    """One GPU as NVML reports it."""

    index: int
    vendor: str = "nvidia"
    model: str  # e.g. "NVIDIA H100 80GB HBM3"
    uuid: str | None = None
    memory_bytes: int | None = None
    driver_version: str | None = None


class FpgaInfo(BaseModel):
    """One FPGA card found on the PCI bus."""

    vendor: str  # "xilinx" (PCI 10ee) or "intel" (PCI 1172)
    model: str  # PCI device id or marketing name, e.g. "u250"
    pci_address: str | None = None
    device_path: str | None = None  # e.g. "/dev/xclmgmt12345" when a driver exposes one


class HostCapabilities(BaseModel):
    """Everything the scheduler needs to know about a host."""

    host_id: str
    pool: str = "default"
    cpu_vendor: str = ""  # "GenuineIntel", "AuthenticAMD", ...
    cpu_model: str = ""  # "/proc/cpuinfo" model name
    cpu_count: int = 1
    cpu_flags: list[str] = Field(default_factory=list)
    numa_nodes: int = 1
    memory_bytes: int = 0
    gpus: list[GpuInfo] = Field(default_factory=list)
    fpgas: list[FpgaInfo] = Field(default_factory=list)
    # device nodes a job may map into its container (exact paths or fnmatch globs)
    allowed_devices: list[str] = Field(default_factory=list)
    # Linux capabilities a job may add (all are dropped by default)
    allowed_cap_add: list[str] = Field(default_factory=list)
    # maximum benchmarks at once; 1 means the host lock serialises them
    max_concurrent_jobs: int = 1
    status: str = "good"  # good | unknown | quarantined | maintenance | retired
