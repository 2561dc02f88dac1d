"""What a host can run: the capability record the scheduler matches jobs against.

Produced from Salt grains on a real farm (``benchfarm.inventory``) or by local
hardware detection on the one-host farm; consumed by job matching and by the
worker to decide which Celery queues it consumes.

The record carries the host's policy for job containers flat beside its
hardware, as it carries its device and capability allow-lists: which networks
besides ``none`` a job may use, and the pids and memory limits every container
gets. The same record decides at submit (matching refuses what no host allows)
and on the host before a container is created (``runner.container_spec``), so
a job queued anyway, or a record that changed in between, is still refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from benchfarm.spec.fields import parse_size

#: Processes and threads a job's container may have at once unless its spec asks: enough for any
#: benchmark's thread pools, far below a host's pid_max, so a fork bomb stops at its own cgroup.
DEFAULT_PIDS_LIMIT = 4096
MAX_PIDS_LIMIT = 32768
MIN_PIDS_LIMIT = 8  # the container's init, a shell and a child need a few
#: Memory kept back from jobs for the system and the farm's own services when no maximum is set.
RESERVED_MEMORY_BYTES = 4 << 30

# the constraint before the parser, so the OpenAPI document says `exclusiveMinimum` (after it: a raw `gt`)
ByteCount = Annotated[int, Field(gt=0), BeforeValidator(parse_size)]
GatedNetwork = Literal["bridge", "host"]


def format_size(n: int) -> str:
    """Bytes in words for messages: ``1.5 GiB``, ``48 MiB``."""
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n >> 20} MiB"


class ContainerPolicy(BaseModel):
    """What a host lets one job's container have beyond its device and capability allow-lists.

    A job's network is ``none`` unless the host allows ``bridge`` (the outside world) or
    ``host`` (this host's loopback too, where the farm's Redis and Elasticsearch listen).
    Every container gets a pids limit, and a memory limit (no swap) when the host's memory is
    known, so a fork bomb or a memory bomb ends inside its container; a job may ask for less,
    or for more up to the maximum. Sizes are bytes, or ``512m``/``2g`` in settings and grains.
    """

    allowed_networks: list[GatedNetwork] = Field(default_factory=list)
    default_pids_limit: int = Field(default=DEFAULT_PIDS_LIMIT, ge=MIN_PIDS_LIMIT)
    max_pids_limit: int = Field(default=MAX_PIDS_LIMIT, ge=MIN_PIDS_LIMIT)
    # a container whose job asks none gets this memory limit; None: the most a job may have
    default_memory_bytes: ByteCount | None = None
    # the most a job may ask; None: the host's memory less reserved_memory_bytes (at least half of it)
    max_memory_bytes: ByteCount | None = None
    reserved_memory_bytes: ByteCount = RESERVED_MEMORY_BYTES

    # the setting (and static grain) name of each field, where the two differ
    CONFIG_NAMES: ClassVar[dict[str, str]] = {
        "default_memory": "default_memory_bytes", "max_memory": "max_memory_bytes",
        "reserved_memory": "reserved_memory_bytes"}

    @model_validator(mode="after")
    def _defaults_within_maximums(self) -> ContainerPolicy:
        if self.default_pids_limit > self.max_pids_limit:
            raise ValueError(f"default_pids_limit ({self.default_pids_limit}) is above max_pids_limit "
                             f"({self.max_pids_limit})")
        if self.default_memory_bytes and self.max_memory_bytes and self.default_memory_bytes > self.max_memory_bytes:
            raise ValueError(f"default_memory ({format_size(self.default_memory_bytes)}) is above max_memory "
                             f"({format_size(self.max_memory_bytes)})")
        return self

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ContainerPolicy:
        """The policy from setting names (``allowed_networks``, ``default_pids_limit``, ``max_pids_limit``,
        ``default_memory``, ``max_memory``, ``reserved_memory``): a worker's settings or a host's static
        grains. Missing or null keys take the defaults.

        Raises:
            pydantic.ValidationError: a value that is not a network, a number or a size, or a default
                above its maximum.
        """
        names = ["allowed_networks", "default_pids_limit", "max_pids_limit", *cls.CONFIG_NAMES]
        return cls.model_validate({cls.CONFIG_NAMES.get(k, k): config[k] for k in names
                                   if config.get(k) is not None})


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


class HostCapabilities(ContainerPolicy):
    """Everything the scheduler needs to know about a host: its hardware, and its policy for job containers."""

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

    @property
    def job_memory_max(self) -> int | None:
        """The most memory a job's container may have here; None when the host's memory is unknown."""
        if self.max_memory_bytes:
            return self.max_memory_bytes
        if not self.memory_bytes:
            return None
        return max(self.memory_bytes - self.reserved_memory_bytes, self.memory_bytes // 2)

    @property
    def job_memory_default(self) -> int | None:
        """The memory limit of a container whose job asks none (never above ``job_memory_max``)."""
        most = self.job_memory_max
        if self.default_memory_bytes and most:
            return min(self.default_memory_bytes, most)
        return self.default_memory_bytes or most
