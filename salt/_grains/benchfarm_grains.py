"""
Benchfarm grains (file not named benchfarm.py: the loader puts this directory on sys.path,
which would shadow the benchfarm package): the hardware the scheduler matches jobs against, and pool membership.

Grains set (all prefixed ``benchfarm_``):

- ``benchfarm_cpu``: ``{vendor, model, count, flags}`` from /proc/cpuinfo
- ``benchfarm_numa_nodes``, ``benchfarm_memory_bytes``
- ``benchfarm_disks``: ``[{name, size_bytes, rotational}]``
- ``benchfarm_gpus``: NVIDIA GPUs through NVML (``[]`` without library, driver or GPU)
- ``benchfarm_fpgas``: Xilinx/AMD (PCI 10ee) and Intel/Altera (PCI 1172) cards via sysfs
- ``benchfarm_pool``: the static grain ``benchfarm:pool`` (minion config), default ``default``
- ``benchfarm_queues``: the Celery queues this host's worker consumes
- ``benchfarm_has_nvidia_gpu``, ``benchfarm_has_fpga``, ``benchfarm_fpga_vendors``: flags for top.sls
- ``benchfarm_service_manager``: ``systemd`` when systemd runs (``/run/systemd/system``), else ``none``
- ``benchfarm_detection``: ``ok`` or the reason detection was skipped

Detection lives in ``benchfarm.inventory.hardware`` (installed on the minion by
the ``benchfarm.worker`` state). Before that package is installed the hardware
grains are empty and a warning is logged.

A static ``benchfarm:hardware`` grain (keys ``cpu``, ``numa_nodes``,
``memory_bytes``, ``disks``, ``gpus``, ``fpgas``) replaces the detected values:
test minions on one machine use it to describe different hardware.
"""

import logging
import os
import re

log = logging.getLogger(__name__)

try:
    from benchfarm.inventory import hardware as _hardware

    HAS_BENCHFARM = True
except ImportError as _exc:  # the benchfarm package is not installed on this minion yet
    _hardware = None
    HAS_BENCHFARM = False
    _IMPORT_ERROR = str(_exc)
else:
    _IMPORT_ERROR = ""


_HARDWARE_KEYS = ("cpu", "numa_nodes", "memory_bytes", "disks", "gpus", "fpgas")
_EMPTY = {
    "benchfarm_cpu": {"vendor": "", "model": "", "count": 1, "flags": []},
    "benchfarm_numa_nodes": 1,
    "benchfarm_memory_bytes": 0,
    "benchfarm_disks": [],
    "benchfarm_gpus": [],
    "benchfarm_fpgas": [],
}


def _static():
    grains = __opts__.get("grains", {}) or {}  # pylint: disable=undefined-variable
    static = grains.get("benchfarm") or {}
    return static if isinstance(static, dict) else {}


def _slug(text):
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "unknown"


def _default_queues(pool, gpus, fpgas):
    """benchfarm.scheduler.queues.queues_for_host's naming, for a minion without the package."""
    queues = [f"pool.{_slug(pool)}"]
    queues += sorted({f"gpu.{_slug(gpu['model'])}" for gpu in gpus})
    if gpus:
        queues.append("gpu.any")
    queues += sorted({f"fpga.{_slug(fpga['vendor'])}-{_slug(fpga['model'])}" for fpga in fpgas})
    if fpgas:
        queues.append("fpga.any")
    return sorted(set(queues))


def _queues(pool, hw):
    """The queues this host's worker consumes: the scheduler's naming (queues_for_host)."""
    try:
        from benchfarm.scheduler.queues import queues_for_host  # pylint: disable=import-outside-toplevel
    except ImportError:
        return _default_queues(pool, hw["benchfarm_gpus"], hw["benchfarm_fpgas"])
    caps = _hardware.capabilities_from_grains({**hw, "benchfarm_pool": pool}, host_id="local")
    return sorted(queues_for_host(caps))


def _detect():
    if not HAS_BENCHFARM:
        log.warning(
            "benchfarm is not importable on this minion (%s): hardware grains are empty until state benchfarm.worker runs",
            _IMPORT_ERROR,
        )
        return dict(_EMPTY), f"benchfarm package not importable: {_IMPORT_ERROR}"
    try:
        return _hardware.detect().as_grains(), "ok"
    except Exception as exc:  # pylint: disable=broad-except
        # a grain must never break the minion: report the reason in a grain instead
        log.warning("benchfarm hardware detection failed: %s", exc, exc_info=True)
        return dict(_EMPTY), f"detection failed: {exc}"


def benchfarm():
    """Return every ``benchfarm_*`` grain (one detection pass, so the values agree)."""
    static = _static()
    hw, detection = _detect()
    override = static.get("hardware") or {}
    for key in _HARDWARE_KEYS:
        if key in override:
            hw[f"benchfarm_{key}"] = override[key]
    pool = str(static.get("pool") or "default")
    fpga_vendors = sorted({f["vendor"] for f in hw["benchfarm_fpgas"]})
    return {
        **hw,
        "benchfarm_pool": pool,
        "benchfarm_queues": _queues(pool, hw) if HAS_BENCHFARM else _default_queues(pool, hw["benchfarm_gpus"], hw["benchfarm_fpgas"]),
        "benchfarm_has_nvidia_gpu": any(g.get("vendor", "nvidia") == "nvidia" for g in hw["benchfarm_gpus"]),
        "benchfarm_has_fpga": bool(hw["benchfarm_fpgas"]),
        "benchfarm_fpga_vendors": fpga_vendors,
        "benchfarm_service_manager": "systemd" if os.path.isdir("/run/systemd/system") else "none",
        "benchfarm_detection": detection,
    }
