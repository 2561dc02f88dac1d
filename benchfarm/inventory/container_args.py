"""Pure argument building for a benchmark container (no docker import, unit-testable).

The Salt execution module ``salt/_modules/benchfarm_mod.py`` parses its CLI-style
arguments here into the runner's :class:`~benchfarm.runner.container_spec.ContainerSpec`
and creates the container through the engine adapter: the GPU pass-through
(``--gpus`` as ``device_requests``) that ``saltext-dockermod`` lacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from benchfarm.errors import SpecError
from benchfarm.runner.container_spec import ContainerSpec, DeviceMapping, GpuRequest

NVIDIA_DRIVER = "nvidia"
GPU_CAPABILITIES = [["gpu"]]


def build_device_requests(
    gpus: int | str | None = None, gpu_device_ids: Iterable[str | int] | None = None
) -> list[dict[str, Any]]:
    """Keyword arguments of ``docker.types.DeviceRequest`` for the GPUs a container asks for.

    Args:
        gpus: ``None`` (no GPU), a count (``2``, ``"2"``) or ``"all"`` (every GPU, count -1).
        gpu_device_ids: explicit GPU indexes or UUIDs; exclusive with ``gpus``.

    Raises:
        SpecError: both given, a count below 1, or a value that is neither a count nor "all".
    """
    ids = [str(i) for i in gpu_device_ids] if gpu_device_ids is not None else None
    if ids is not None and gpus is not None:
        raise SpecError(
            "give either gpus (a count or 'all') or gpu_device_ids, not both",
            hint="drop gpus=... when naming the GPUs by id",
        )
    if ids is not None:
        if not ids:
            raise SpecError("gpu_device_ids is empty", hint="name at least one GPU index or UUID, or leave it out")
        return [{"driver": NVIDIA_DRIVER, "device_ids": ids, "capabilities": GPU_CAPABILITIES}]
    if gpus is None:
        return []
    if isinstance(gpus, str) and gpus.strip().lower() == "all":
        count = -1
    else:
        try:
            count = int(gpus)
        except (TypeError, ValueError):
            raise SpecError(f"gpus={gpus!r} is neither a count nor 'all'", hint="use gpus=1, gpus=2 or gpus=all") from None
        if isinstance(gpus, bool) or count < 1:
            raise SpecError(f"gpus={gpus!r}: a GPU count must be at least 1", hint="leave gpus out for no GPU")
    return [{"driver": NVIDIA_DRIVER, "count": count, "capabilities": GPU_CAPABILITIES}]


def build_devices(devices: Iterable[str] | None) -> list[str]:
    """Docker ``devices`` strings (``host[:container[:perms]]``); a bare host path maps to itself, ``rwm``.

    Raises:
        SpecError: a path that is not absolute, or permissions outside ``rwm``.
    """
    out = []
    for spec in devices or []:
        parts = str(spec).split(":")
        if len(parts) > 3 or not parts[0].startswith("/") or (len(parts) > 1 and not parts[1].startswith("/")):
            raise SpecError(f"device {spec!r} is not HOST_PATH[:CONTAINER_PATH[:PERMS]]", hint="e.g. /dev/xclmgmt15104:/dev/fpga0:rw")
        host = parts[0]
        container = parts[1] if len(parts) > 1 else host
        perms = parts[2] if len(parts) > 2 else "rwm"
        if not perms or set(perms) - set("rwm"):
            raise SpecError(f"device {spec!r}: permissions must be made of r, w, m", hint="e.g. rw or rwm")
        out.append(f"{host}:{container}:{perms}")
    return out


def build_container_spec(
    image: str,
    *,
    command: str | list[str] | None = None,
    gpus: int | str | None = None,
    gpu_device_ids: Iterable[str | int] | None = None,
    devices: Iterable[str] | None = None,
    cpuset: str | int | None = None,
    mem_limit: str | int | None = None,
    network_mode: str = "none",
    name: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> ContainerSpec:
    """The runner's locked-down :class:`ContainerSpec` from ``benchfarm.run_container``'s Salt arguments.

    The container is then created by the same engine adapter the runner uses
    (:meth:`benchfarm.adapters.docker_engine.ContainerEngine.create`), so Salt-run
    and farm-run benchmark containers get one policy and one ``device_requests`` builder.

    Raises:
        SpecError: an empty image, or a bad GPU/device argument (see the builders above).
    """
    if not image:
        raise SpecError("run_container needs an image", hint="pass an image reference, ideally by digest")
    [gpu] = build_device_requests(gpus, gpu_device_ids) or [None]
    mapped = [DeviceMapping(*d.split(":")) for d in build_devices(devices)]
    return ContainerSpec(
        image=image,
        command=[command] if isinstance(command, str) else command,
        name=name or "",
        labels={str(k): str(v) for k, v in (labels or {}).items()},
        cpuset=str(cpuset) if cpuset is not None and str(cpuset) != "" else None,  # Salt's CLI passes "0" as 0
        mem_limit=mem_limit,
        network_mode=network_mode,
        devices=mapped,
        gpus=None if gpu is None else GpuRequest(count=gpu.get("count"), device_ids=gpu.get("device_ids")),
    )
