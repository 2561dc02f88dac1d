"""What the runner asks the engine for: a locked-down container for one repetition."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from benchfarm.errors import DeviceNotAllowedError
from benchfarm.scheduler.capabilities import HostCapabilities

LABEL_JOB = "benchfarm.job_id"
LABEL_REPETITION = "benchfarm.repetition"
LABEL_SPEC = "benchfarm.spec_name"
LABEL_WARMUP = "benchfarm.warmup"
RESULTS_MOUNT = "/results"


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
    mem_limit: int | str | None = None  # bytes, or a docker size string such as "1g"
    network_mode: str = "none"
    read_only: bool = True
    tmpfs: dict[str, str] = field(default_factory=lambda: {"/tmp": "rw,size=256m"})
    results_dir: Path | None = None
    devices: list[DeviceMapping] = field(default_factory=list)
    gpus: GpuRequest | None = None
    cap_add: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=lambda: ["no-new-privileges"])


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def check_devices(devices: list[DeviceMapping], caps: HostCapabilities) -> None:
    """Refuse any device not on the host's allow-list, before anything starts."""
    for dev in devices:
        if not any(fnmatch(dev.host_path, pattern) for pattern in caps.allowed_devices):
            allowed = ", ".join(caps.allowed_devices) or "none"
            raise DeviceNotAllowedError(
                f"device {dev.host_path} is not on the allow-list of host {caps.host_id} (allowed: {allowed})",
                hint="ask the farm operator to add it to the host's allowed_devices (Salt pillar), or drop it from the job",
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


def build_container_spec(spec: Any, *, job_id: str, image: str, repetition: int, warmup: bool,
                         caps: HostCapabilities, results_dir: Path) -> ContainerSpec:
    """Translate a JobSpec into a container for one repetition on a host.

    Raises DeviceNotAllowedError for a device or capability the host does not allow.
    """
    resources = _get(spec, "resources")
    devices = [
        DeviceMapping(_get(d, "host_path"), _get(d, "container_path") or _get(d, "host_path"),
                      _get(d, "permissions", "rwm") or "rwm")
        for d in (_get(spec, "devices") or [])
    ]
    check_devices(devices, caps)
    cap_add = list(_get(spec, "cap_add") or [])
    check_capabilities(cap_add, caps)
    gpu_req = _get(_get(spec, "requirements"), "gpu")
    gpus = None
    if gpu_req is not None and (_get(gpu_req, "count") or 0) > 0:
        gpus = GpuRequest(count=_get(gpu_req, "count"))
    cpus = _get(resources, "cpus")
    command = _get(spec, "command")
    args = list(_get(spec, "args") or [])
    full_command = (list(command) + args) if command else (args or None)
    name = str(_get(spec, "name"))
    return ContainerSpec(
        image=image,
        command=full_command,
        name=f"bf-{job_id}-r{repetition}",
        env=dict(_get(spec, "env") or {}),
        labels={
            LABEL_JOB: job_id,
            LABEL_REPETITION: str(repetition),
            LABEL_SPEC: name,
            LABEL_WARMUP: "1" if warmup else "0",
        },
        cpuset=_get(resources, "cpuset"),
        nano_cpus=int(cpus * 1e9) if cpus else None,
        mem_limit=_get(resources, "memory_bytes"),
        network_mode=_get(spec, "network", "none") or "none",
        results_dir=results_dir,
        devices=devices,
        gpus=gpus,
        cap_add=cap_add,
    )
