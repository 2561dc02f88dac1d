"""Pure argument building for a benchmark container (no docker import, unit-testable).

The Salt execution module ``salt/_modules/benchfarm.py`` turns these plain dicts
into docker-py calls: ``docker.types.DeviceRequest(**kwargs)`` for each entry of
:func:`build_device_requests`, and ``client.containers.run(**kwargs)`` for
:func:`build_run_kwargs`. This is the GPU pass-through (``--gpus``) that
``saltext-dockermod`` lacks: it maps plain device nodes but not ``device_requests``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from benchfarm.errors import SpecError

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


def build_host_config_kwargs(
    *,
    gpus: int | str | None = None,
    gpu_device_ids: Iterable[str | int] | None = None,
    devices: Iterable[str] | None = None,
    cpuset: str | None = None,
    mem_limit: str | int | None = None,
    network_mode: str = "none",
) -> dict[str, Any]:
    """The host-config part of ``containers.run`` kwargs (``device_requests`` left as plain dicts)."""
    kwargs: dict[str, Any] = {"network_mode": network_mode}
    requests = build_device_requests(gpus, gpu_device_ids)
    if requests:
        kwargs["device_requests"] = requests
    mapped = build_devices(devices)
    if mapped:
        kwargs["devices"] = mapped
    if cpuset is not None and str(cpuset) != "":
        kwargs["cpuset_cpus"] = str(cpuset)  # "0" is a valid cpuset (and Salt's CLI passes it as int 0)
    if mem_limit is not None:
        kwargs["mem_limit"] = mem_limit
        kwargs["memswap_limit"] = mem_limit  # no swap beyond the limit: an OOM is an OOM
    return kwargs


def build_run_kwargs(
    image: str,
    *,
    command: str | list[str] | None = None,
    gpus: int | str | None = None,
    gpu_device_ids: Iterable[str | int] | None = None,
    devices: Iterable[str] | None = None,
    cpuset: str | None = None,
    mem_limit: str | int | None = None,
    network_mode: str = "none",
    name: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Every keyword of ``client.containers.run`` for a detached benchmark container.

    Raises:
        SpecError: an empty image, or a bad GPU/device argument (see the builders above).
    """
    if not image:
        raise SpecError("run_container needs an image", hint="pass an image reference, ideally by digest")
    kwargs: dict[str, Any] = {
        "image": image,
        "command": command,
        "detach": True,
        "labels": {str(k): str(v) for k, v in (labels or {}).items()},
        **build_host_config_kwargs(
            gpus=gpus,
            gpu_device_ids=gpu_device_ids,
            devices=devices,
            cpuset=cpuset,
            mem_limit=mem_limit,
            network_mode=network_mode,
        ),
    }
    if name:
        kwargs["name"] = name
    return kwargs
