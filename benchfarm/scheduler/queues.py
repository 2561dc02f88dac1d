"""Celery queues named by capability.

A host's worker consumes ``pool.<pool>`` plus ``gpu.<model>``/``gpu.any`` for
each GPU model it has and ``fpga.<vendor>-<model>``/``fpga.any`` for each FPGA:
a CPU-only host never consumes a gpu queue, so a GPU job can never land there.
"""

from __future__ import annotations

import re
from typing import Any

from benchfarm.scheduler.capabilities import HostCapabilities


def slug(text: str) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def queues_for_host(caps: HostCapabilities) -> list[str]:
    """Every queue the host's worker consumes."""
    queues = [f"pool.{slug(caps.pool)}"]
    for model in sorted({g.model for g in caps.gpus}):
        queues.append(f"gpu.{slug(model)}")
    if caps.gpus:
        queues.append("gpu.any")
    for vendor, model in sorted({(f.vendor, f.model) for f in caps.fpgas}):
        queues.append(f"fpga.{slug(vendor)}-{slug(model)}")
    if caps.fpgas:
        queues.append("fpga.any")
    return queues


def _get(obj: Any, name: str) -> Any:
    return None if obj is None else (obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None))


def queue_for_job(spec: Any, host: HostCapabilities | None) -> str:
    """The queue a job is sent to: the most specific capability it needs.

    With a matching ``host`` the queue names that host's exact GPU/FPGA model
    (only hosts with it consume the queue); without one (queue-anyway), the
    generic ``gpu.any``/``fpga.any`` or the pool queue.
    """
    req = _get(spec, "requirements")
    if _get(req, "gpu") is not None:
        return f"gpu.{slug(host.gpus[0].model)}" if host and host.gpus else "gpu.any"
    if _get(req, "fpga") is not None:
        if host and host.fpgas:
            return f"fpga.{slug(host.fpgas[0].vendor)}-{slug(host.fpgas[0].model)}"
        return "fpga.any"
    pool = _get(req, "pool") or (host.pool if host else "default")
    return f"pool.{slug(pool)}"
