"""
Benchfarm grains (file not named benchfarm.py: the loader puts this directory on sys.path,
which would shadow the benchfarm package): the hardware the scheduler matches jobs against, and pool membership.

Grains set (all prefixed ``benchfarm_``):

- ``benchfarm_cpu``: ``{vendor, model, count, flags, cpuset}``: model and flags from /proc/cpuinfo,
  count and ``cpuset`` (kernel CPU list) from the minion's own cgroup, so a node reports its CPU set
- ``benchfarm_numa_nodes``, ``benchfarm_memory_bytes`` (MemTotal, or the minion's cgroup memory limit if smaller)
- ``benchfarm_disks``: ``[{name, size_bytes, rotational}]``
- ``benchfarm_gpus``: NVIDIA GPUs through NVML (``[]`` without library, driver or GPU)
- ``benchfarm_fpgas``: Xilinx/AMD (PCI 10ee) and Intel/Altera (PCI 1172) cards via sysfs
- ``benchfarm_pool``: the static grain ``benchfarm:pool`` (the minion config's ``grains:``, or the grains
  file beside it, where salt-cloud's deploy puts a profile's grains), default ``default``
- ``benchfarm_queues``: the Celery queues this host's worker consumes, named by
  ``benchfarm.scheduler.queues.queues_for_host`` (``[]`` when that cannot run)
- ``benchfarm_has_nvidia_gpu``, ``benchfarm_has_fpga``, ``benchfarm_fpga_vendors``: flags for top.sls
- ``benchfarm_service_manager``: what starts this host's daemons: ``systemd`` when systemd runs
  (``/run/systemd/system``), ``node`` on a benchfarm node (a container that behaves like a host, whose
  daemons the node's runner ``benchfarm-node-service`` supervises), else ``none``. The formula's service
  states and ``service.*`` (``salt/_modules/benchfarm_node_service.py`` on a node) follow it.
- ``benchfarm_detection``: ``ok`` or the reason detection (or queue naming) was skipped

Detection lives in ``benchfarm.inventory.hardware`` (GPUs listed through the NVML
adapter ``benchfarm.adapters.nvml``) and queue naming in
``benchfarm.scheduler.queues`` (installed on the minion by the ``benchfarm.worker``
state). Before that package is installed the hardware grains are empty, no queue
is listed (no second naming here to drift from the scheduler's), and a warning is logged.

A static ``benchfarm:hardware`` grain (keys ``cpu``, ``numa_nodes``,
``memory_bytes``, ``disks``, ``gpus``, ``fpgas``) replaces the detected values:
test minions on one machine use it to describe different hardware.
"""

import logging
import os
from typing import Any

import yaml

log = logging.getLogger(__name__)

# injected by Salt's loader after import (declared for mypy; salt/ruff.toml names them for ruff)
__opts__: dict[str, Any]

try:
    from benchfarm.adapters import nvml as _nvml
    from benchfarm.inventory import hardware as _hardware
    from benchfarm.scheduler.queues import queues_for_host as _queues_for_host
except ImportError as _exc:  # the benchfarm package is not installed on this minion yet
    HAS_BENCHFARM = False
    _IMPORT_ERROR = str(_exc)
else:
    HAS_BENCHFARM = True
    _IMPORT_ERROR = ""


# a node's service runner (images/node/benchfarm-node-service) and the marker its init writes once started
NODE_SERVICE_RUNNER = "/usr/local/sbin/benchfarm-node-service"
NODE_STATE_DIR = "/run/benchfarm-node"

_HARDWARE_KEYS = ("cpu", "numa_nodes", "memory_bytes", "disks", "gpus", "fpgas")
_EMPTY = {
    "benchfarm_cpu": {"vendor": "", "model": "", "count": 1, "flags": [], "cpuset": ""},
    "benchfarm_numa_nodes": 1,
    "benchfarm_memory_bytes": 0,
    "benchfarm_disks": [],
    "benchfarm_gpus": [],
    "benchfarm_fpgas": [],
}


def _grains_file() -> dict[str, Any]:
    """The minion's static grains file (``<config dir>/grains``), where salt-cloud and ``grains.setval`` put them."""
    conf = __opts__.get("conf_file")
    if not conf:
        return {}
    path = os.path.join(conf if os.path.isdir(conf) else os.path.dirname(conf), "grains")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _static() -> dict[str, Any]:
    """The static ``benchfarm`` grain: the grains file, then the minion config's ``grains:`` (it wins, as in Salt)."""
    static: dict[str, Any] = {}
    for source in (_grains_file().get("benchfarm"), (__opts__.get("grains", {}) or {}).get("benchfarm")):
        if isinstance(source, dict):
            static.update(source)
    return static


def _queues(pool: str, hw: dict[str, Any]) -> tuple[list[str], str]:
    """The queues this host's worker consumes, as the scheduler names them, and ``ok`` or why there are none."""
    if not HAS_BENCHFARM:
        return [], f"benchfarm package not importable: {_IMPORT_ERROR}"
    try:
        caps = _hardware.capabilities_from_grains({**hw, "benchfarm_pool": pool}, host_id="local")
        return sorted(_queues_for_host(caps)), "ok"
    except Exception as exc:  # a grain must never break the minion: report it in a grain
        log.warning("benchfarm queue naming failed: %s", exc, exc_info=True)
        return [], f"queue naming failed: {exc}"


def _detect() -> tuple[dict[str, Any], str]:
    if not HAS_BENCHFARM:
        log.warning("benchfarm is not importable on this minion (%s): hardware grains are empty "
                    "and no queue is listed until state benchfarm.worker runs", _IMPORT_ERROR)
        return dict(_EMPTY), f"benchfarm package not importable: {_IMPORT_ERROR}"
    try:
        return _hardware.detect(list_gpus=_nvml.list_gpus).as_grains(), "ok"
    except Exception as exc:  # a grain must never break the minion: report it in a grain
        log.warning("benchfarm hardware detection failed: %s", exc, exc_info=True)
        return dict(_EMPTY), f"detection failed: {exc}"


def _service_manager() -> str:
    """``systemd``, ``node`` (a benchfarm node's runner supervises the daemons) or ``none``."""
    if os.path.isdir("/run/systemd/system"):
        return "systemd"
    if os.access(NODE_SERVICE_RUNNER, os.X_OK) and os.path.isdir(NODE_STATE_DIR):
        return "node"
    return "none"


def benchfarm() -> dict[str, Any]:
    """Return every ``benchfarm_*`` grain (one detection pass, so the values agree)."""
    static = _static()
    hw, detection = _detect()
    override = static.get("hardware") or {}
    for key in _HARDWARE_KEYS:
        if key in override:
            hw[f"benchfarm_{key}"] = override[key]
    pool = str(static.get("pool") or "default")
    queues, naming = _queues(pool, hw)
    if detection == "ok":
        detection = naming
    fpga_vendors = sorted({f["vendor"] for f in hw["benchfarm_fpgas"]})
    return {
        **hw,
        "benchfarm_pool": pool,
        "benchfarm_queues": queues,
        "benchfarm_has_nvidia_gpu": any(g.get("vendor", "nvidia") == "nvidia" for g in hw["benchfarm_gpus"]),
        "benchfarm_has_fpga": bool(hw["benchfarm_fpgas"]),
        "benchfarm_fpga_vendors": fpga_vendors,
        "benchfarm_service_manager": _service_manager(),
        "benchfarm_detection": detection,
    }
