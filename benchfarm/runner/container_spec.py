"""What the runner asks the engine for: a locked-down container for one repetition.

Locked down means: a read-only root with a small tmpfs at /tmp, every capability
dropped but those the host allows, no new privileges, no network unless the host's
policy allows the one asked for, and a pids and a memory limit (no swap) on every
container, so a fork bomb or a memory bomb ends inside it. The host's policy is checked
here again, before anything is created, although matching refused at submit what no
host allows: a job queued anyway, or a host whose policy changed since, is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

from benchfarm.errors import DeviceNotAllowedError, HostPolicyError
from benchfarm.scheduler.capabilities import DEFAULT_PIDS_LIMIT, HostCapabilities, format_size

if TYPE_CHECKING:  # only read here; keeps pydantic models off the Salt module's import path
    from benchfarm.spec.model import JobSpec

LABEL_JOB = "benchfarm.job_id"
LABEL_REPETITION = "benchfarm.repetition"
LABEL_SPEC = "benchfarm.spec_name"
LABEL_WARMUP = "benchfarm.warmup"


@dataclass(frozen=True)
class GpuRequest:
    """GPUs through Docker ``device_requests`` (the modern ``--gpus``)."""

    count: int | None = None  # -1 means all
    device_ids: list[str] | None = None
    driver: str = "nvidia"
    capabilities: tuple[str, ...] = ("gpu",)


@dataclass(frozen=True)
class DeviceMapping:
    """A host device node mapped into the container, with its cgroup permissions."""

    host_path: str
    container_path: str
    permissions: str = "rwm"

    def as_docker(self) -> str:
        return f"{self.host_path}:{self.container_path}:{self.permissions}"


@dataclass
class ContainerSpec:
    """Everything needed to create one benchmark container."""

    image: str
    command: list[str] | None
    name: str
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    cpuset: str | None = None
    nano_cpus: int | None = None
    mem_limit: int | str | None = None  # bytes, or a docker size string such as "1g"; swap is never allowed
    pids_limit: int = DEFAULT_PIDS_LIMIT  # a spec built without a host policy (Salt's run_container) has one too
    network_mode: str = "none"
    read_only: bool = True
    tmpfs: dict[str, str] = field(default_factory=lambda: {"/tmp": "rw,size=256m"})
    results_dir: Path | None = None
    devices: list[DeviceMapping] = field(default_factory=list)
    gpus: GpuRequest | None = None
    cap_add: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=lambda: ["no-new-privileges"])


def check_devices(devices: list[DeviceMapping], caps: HostCapabilities) -> None:
    """Refuse any device not on the host's allow-list, before anything starts."""
    for dev in devices:
        if not any(fnmatch(dev.host_path, pattern) for pattern in caps.allowed_devices):
            allowed = ", ".join(caps.allowed_devices) or "none"
            raise DeviceNotAllowedError(
                f"device {dev.host_path} is not on the allow-list of host {caps.host_id} (allowed: {allowed})",
                hint="ask the farm operator to add it to the host's allowed_devices (Salt pillar), "
                     "or drop it from the job",
            )
        if not Path(dev.host_path).exists():
            raise DeviceNotAllowedError(
                f"device {dev.host_path} does not exist on host {caps.host_id}",
                hint="check the device path in the job spec",
            )


def check_capabilities(cap_add: list[str], caps: HostCapabilities) -> None:
    """Refuse Linux capabilities the host's policy does not allow."""
    refused = [c for c in cap_add if c.upper() not in {a.upper() for a in caps.allowed_cap_add}]
    if refused:
        raise DeviceNotAllowedError(
            f"capabilities {', '.join(refused)} are not allowed on host {caps.host_id} "
            f"(allowed: {', '.join(caps.allowed_cap_add) or 'none'})",
            hint="benchmarks run with every capability dropped; ask the operator to allow it in the host policy",
        )


def check_network(network: str, caps: HostCapabilities) -> None:
    """Refuse a network other than ``none`` that the host's policy does not allow."""
    if network != "none" and network not in caps.allowed_networks:
        raise HostPolicyError(
            f"network {network} is not allowed on host {caps.host_id} "
            f"(allowed: {', '.join(['none', *caps.allowed_networks])})",
            hint="host networking reaches the host's loopback, where the farm's own services listen, and bridge "
                 "the outside world; an operator allows them per host with allowed_networks",
        )


def container_limits(spec: JobSpec, caps: HostCapabilities) -> tuple[int, int | None]:
    """The pids and memory limits (bytes; None: the host's memory is unknown) of the job's container.

    The job's own, when it asks; else the host's defaults.

    Raises:
        HostPolicyError: the job asks for more than the host allows a job.
    """
    pids, memory = spec.resources.pids, spec.resources.memory_bytes
    if pids and pids > caps.max_pids_limit:
        raise HostPolicyError(f"a pids limit of {pids} is above the most host {caps.host_id} allows a job "
                              f"({caps.max_pids_limit})", hint="ask for fewer in resources.pids")
    most = caps.job_memory_max
    if memory and most and memory > most:
        raise HostPolicyError(f"a memory limit of {format_size(memory)} is above the most host {caps.host_id} allows a "
                              f"job ({format_size(most)})", hint="ask for less in resources.memory")
    return pids or caps.default_pids_limit, memory or caps.job_memory_default


def build_container_spec(spec: JobSpec, *, job_id: str, image: str, repetition: int, warmup: bool,
                         caps: HostCapabilities, results_dir: Path) -> ContainerSpec:
    """Translate a job spec into the container of one repetition on a host.

    Args:
        spec: the validated job spec.
        job_id: the job, stamped into the container's labels and name.
        image: what to run: the digest pinned at submit, or the reference.
        repetition: the repetition's index (0-based, warm-ups first), in the labels and name.
        warmup: whether this repetition is a warm-up (a label).
        caps: the host's capabilities, whose allow-lists the devices and capabilities must pass.
        results_dir: the host directory mounted at /results.
    Raises:
        DeviceNotAllowedError: a device or capability the host does not allow, or a device that does not exist.
        HostPolicyError: a network the host does not allow, or limits above its maximum.
    """
    resources = spec.resources
    devices = [DeviceMapping(d.host_path, d.container_path or d.host_path, d.permissions or "rwm")
               for d in spec.devices]
    check_devices(devices, caps)
    cap_add = list(spec.cap_add)
    check_capabilities(cap_add, caps)
    check_network(spec.network, caps)
    pids_limit, mem_limit = container_limits(spec, caps)
    gpu_req = spec.requirements.gpu
    gpus = GpuRequest(count=gpu_req.count) if gpu_req is not None and gpu_req.count > 0 else None
    args = list(spec.args)
    full_command = (list(spec.command) + args) if spec.command else (args or None)
    return ContainerSpec(
        image=image,
        command=full_command,
        name=f"bf-{job_id}-r{repetition}",
        env=dict(spec.env),
        labels={
            LABEL_JOB: job_id,
            LABEL_REPETITION: str(repetition),
            LABEL_SPEC: spec.name,
            LABEL_WARMUP: "1" if warmup else "0",
        },
        cpuset=resources.cpuset,
        nano_cpus=int(resources.cpus * 1e9) if resources.cpus else None,
        mem_limit=mem_limit,
        pids_limit=pids_limit,
        network_mode=spec.network,
        results_dir=results_dir,
        devices=devices,
        gpus=gpus,
        cap_add=cap_add,
    )
