"""Celery queues named by capability.

A host's worker consumes ``pool.<pool>``, plus ``gpu.<model>`` for each GPU
model it has and ``gpu.any`` when it has a GPU, plus ``fpga.<vendor>-<model>``
and ``fpga.any`` for its FPGAs. A CPU-only host never consumes a gpu or fpga
queue, so a job that needs one can never land there.

A CPU-only job goes to its pool's queue; a GPU (FPGA) job to the queue of the
chosen host's matching model, or the generic ``gpu.any`` (``fpga.any``) when it
is queued before any host can run it. Accelerator queues are not split by
pool: a job's pool requirement is checked at submit, when a host is chosen.
"""

from __future__ import annotations

import re
from typing import Any

from benchfarm.scheduler.capabilities import HostCapabilities

GPU_ANY = "gpu.any"
FPGA_ANY = "fpga.any"


def slug(text: str) -> str:
    """A queue-name fragment: ``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def pool_queue(pool: str) -> str:
    """``pool.<pool>``."""
    return f"pool.{slug(pool)}"


def gpu_queue(model: str) -> str:
    """``gpu.<slug of the model>``."""
    return f"gpu.{slug(model)}"


def fpga_queue(vendor: str, model: str) -> str:
    """``fpga.<vendor>-<model>``."""
    return f"fpga.{slug(vendor)}-{slug(model)}"


def queues_for_host(caps: HostCapabilities) -> list[str]:
    """Every queue the host's worker consumes, pool queue first, without duplicates."""
    queues = [pool_queue(caps.pool)]
    queues += sorted({gpu_queue(g.model) for g in caps.gpus})
    if caps.gpus:
        queues.append(GPU_ANY)
    queues += sorted({fpga_queue(f.vendor, f.model) for f in caps.fpgas})
    if caps.fpgas:
        queues.append(FPGA_ANY)
    return queues


def _get(obj: Any, name: str) -> Any:
    return None if obj is None else (obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None))


def _fits(pattern: str | None, text: str) -> bool:
    return not pattern or re.search(pattern, text, re.IGNORECASE) is not None


def queue_for_job(spec: Any, host: HostCapabilities | None) -> str:
    """The queue a job is sent to: the most specific capability it needs.

    Args:
        spec: a JobSpec (or its dict form).
        host: the host chosen by matching, or None when the job is queued
            before any host can run it (``--queue-anyway``).

    Returns:
        With a host: ``gpu.<model>`` of its first GPU matching the job's model
        pattern, ``fpga.<vendor>-<model>`` likewise, or ``pool.<pool>``. Without
        one: ``gpu.any``, ``fpga.any`` or the pool the job names (``pool.default``).
    """
    req = _get(spec, "requirements")
    gpu = _get(req, "gpu")
    if gpu is not None:
        model = _get(gpu, "model")
        gpu_fit = next((g for g in (host.gpus if host else []) if _fits(model, g.model)), None)
        return gpu_queue(gpu_fit.model) if gpu_fit else GPU_ANY
    fpga = _get(req, "fpga")
    if fpga is not None:
        vendor, model = _get(fpga, "vendor"), _get(fpga, "model")
        fit = next((f for f in (host.fpgas if host else [])
                    if (not vendor or vendor.lower() == f.vendor.lower()) and _fits(model, f.model)), None)
        return fpga_queue(fit.vendor, fit.model) if fit else FPGA_ANY
    pool = _get(req, "pool") or (host.pool if host else "default")
    return pool_queue(pool)
