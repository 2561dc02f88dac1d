"""Salt's CLI-style container arguments parsed into the runner's ContainerSpec (pure, unit-testable).

``benchfarm.run_container`` (``salt/_modules/benchfarm_mod.py``) takes ``docker run``-like
arguments on the Salt command line. This module only parses and validates them into
the runner's :class:`~benchfarm.runner.container_spec.ContainerSpec`; it builds no
Docker arguments. Those are built in one place, the engine adapter
(:meth:`~benchfarm.adapters.docker_engine.ContainerEngine.create` and its
:func:`~benchfarm.adapters.docker_engine.device_requests`), for Salt-run and farm-run
benchmark containers alike: one lock-down policy, one ``--gpus`` translation.
Device arguments are validated by the job spec's own :class:`~benchfarm.spec.model.DeviceSpec`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from benchfarm.errors import SpecError
from benchfarm.runner.container_spec import ContainerSpec, DeviceMapping, GpuRequest

_DEVICE_FORM = "HOST_PATH[:CONTAINER_PATH[:PERMS]], e.g. /dev/xclmgmt15104:/dev/fpga0:rw"


def parse_gpus(gpus: int | str | None = None, gpu_device_ids: Iterable[str | int] | str | int | None = None,
               ) -> GpuRequest | None:
    """The GPUs a container asks for, as the runner's :class:`GpuRequest` (None: no GPU).

    Args:
        gpus: ``None`` (no GPU), a count (``2``, ``"2"``) or ``"all"`` (every GPU, count -1).
        gpu_device_ids: explicit GPU indexes or UUIDs (a list, or one comma-separated string
            as the Salt CLI may pass it); exclusive with ``gpus``.

    Raises:
        SpecError: both given, no id, a count below 1, or a value that is neither a count nor "all".
    """
    if gpu_device_ids is not None:
        if gpus is not None:
            raise SpecError("give either gpus (a count or 'all') or gpu_device_ids, not both",
                            hint="drop gpus=... when naming the GPUs by id")
        if isinstance(gpu_device_ids, str | int):
            ids = [i.strip() for i in str(gpu_device_ids).split(",") if i.strip()]
        else:
            ids = [str(i) for i in gpu_device_ids]
        if not ids:
            raise SpecError("gpu_device_ids is empty", hint="name at least one GPU index or UUID, or leave it out")
        return GpuRequest(device_ids=ids)
    if gpus is None:
        return None
    if isinstance(gpus, str) and gpus.strip().lower() == "all":
        return GpuRequest(count=-1)
    try:
        count = int(gpus)
    except (TypeError, ValueError):
        raise SpecError(f"gpus={gpus!r} is neither a count nor 'all'", hint="use gpus=1, gpus=2 or gpus=all") from None
    if isinstance(gpus, bool) or count < 1:
        raise SpecError(f"gpus={gpus!r}: a GPU count must be at least 1", hint="leave gpus out for no GPU")
    return GpuRequest(count=count)


def parse_device(text: str) -> DeviceMapping:
    """A device argument ``HOST[:CONTAINER[:PERMS]]``: a bare host path maps to itself with ``rwm``.

    Raises:
        SpecError: not that form, a path outside ``/dev/``, or permissions other than r, w and m.
    """
    from pydantic import ValidationError

    from benchfarm.spec.model import DeviceSpec  # deferred: the job spec models only load when a device is given

    parts = str(text).split(":")
    if len(parts) > 3:
        raise SpecError(f"device {text!r} is not {_DEVICE_FORM}", hint="give at most two ':'")
    try:
        device = DeviceSpec(**dict(zip(("host_path", "container_path", "permissions"), parts, strict=False)))
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise SpecError(f"device {text!r}: {reasons}", hint=f"use {_DEVICE_FORM}") from exc
    return DeviceMapping(device.host_path, device.container_path or device.host_path, device.permissions)


def parse_container_spec(
    image: str,
    *,
    command: str | list[str] | None = None,
    gpus: int | str | None = None,
    gpu_device_ids: Iterable[str | int] | str | int | None = None,
    devices: Iterable[str] | str | None = None,
    cpuset: str | int | None = None,
    mem_limit: str | int | None = None,
    network_mode: str = "none",
    name: str | None = None,
    labels: Mapping[str, object] | None = None,
) -> ContainerSpec:
    """The runner's locked-down :class:`ContainerSpec` from ``benchfarm.run_container``'s Salt arguments.

    Raises:
        SpecError: an empty image, or a bad GPU or device argument (see :func:`parse_gpus`, :func:`parse_device`).
    """
    if not image:
        raise SpecError("run_container needs an image", hint="pass an image reference, ideally by digest")
    return ContainerSpec(
        image=image,
        command=[command] if isinstance(command, str) else command,
        name=name or "",
        labels={str(k): str(v) for k, v in (labels or {}).items()},
        cpuset=str(cpuset) if cpuset is not None and str(cpuset) != "" else None,  # Salt's CLI passes "0" as 0
        mem_limit=mem_limit,
        network_mode=network_mode,
        devices=[parse_device(d) for d in ([devices] if isinstance(devices, str) else devices or [])],
        gpus=parse_gpus(gpus, gpu_device_ids),
    )
