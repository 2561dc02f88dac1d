"""The farm's GPU code paths on a real NVIDIA GPU (a host with no Docker engine is fine).

Runs, and prints as JSON lines:
1. hardware detection through NVML (what the Salt grains and the worker report);
2. the capability queues such a host's worker would consume, and the match of
   examples/gpu-matmul.yaml against it;
3. the Docker ``device_requests`` the runner would send for that job (the API body);
4. the NVML collector sampling at 10 Hz while the gpu-matmul benchmark
   (images/gpu-matmul/matmul.py, run directly with the host's PyTorch) loads the GPU,
   and the benchmark's own results parsed by the farm's results parser.
Usage: python3 scripts/gpu_check.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def emit(step: str, **data) -> None:
    print(json.dumps({"step": step, **data}, default=str), flush=True)


def main() -> int:
    from benchfarm.adapters.nvml import NvmlAdapter, list_gpus
    from benchfarm.collectors.gpu import GpuCollector
    from benchfarm.collectors.sampler import Sampler
    from benchfarm.inventory.hardware import detect_capabilities
    from benchfarm.runner.container_spec import build_container_spec
    from benchfarm.scheduler.matching import match_hosts
    from benchfarm.scheduler.queues import queue_for_job, queues_for_host
    from benchfarm.spec.loader import load_spec_file
    from benchfarm.spec.results import parse_results

    caps = detect_capabilities("gpu-pool", host_id="gpu-check", list_gpus=list_gpus)
    emit("detect", gpus=[g.model_dump() for g in caps.gpus], cpu_model=caps.cpu_model, cpu_count=caps.cpu_count)
    if not caps.gpus:
        emit("fail", reason="NVML found no GPU")
        return 1
    spec = load_spec_file(REPO / "examples" / "gpu-matmul.yaml")
    match = match_hosts(spec, [caps])
    emit("schedule", queues=queues_for_host(caps), job_queue=queue_for_job(spec, caps),
         matched=[h.host_id for h in match.hosts], reasons=match.reasons)
    cs = build_container_spec(spec, job_id="job-gpu-check", image="benchfarm/gpu-matmul:latest", repetition=0,
                              warmup=False, caps=caps, results_dir=Path("/tmp/bf-gpu-check"))
    try:
        from benchfarm.adapters.docker_engine import device_requests

        emit("device_requests", api_body=[dict(r) for r in device_requests(cs.gpus)])
    except ImportError:
        emit("device_requests", gpus=vars(cs.gpus), note="docker-py not installed here")

    class Keep:
        def __init__(self) -> None:
            self.samples = []

        def ship(self, samples) -> None:
            self.samples.extend(samples)

    sink = Keep()
    sampler = Sampler([GpuCollector(open_reader=NvmlAdapter)], sink, interval_s=0.1, batch_interval_s=1.0,
                      job_id="job-gpu-check", host_id="gpu-check").start()
    started = time.monotonic()
    bench = subprocess.run([sys.executable, str(REPO / "images" / "gpu-matmul" / "matmul.py")], capture_output=True,
                           text=True, env={**os.environ, "MATMUL_N": "8192", "MATMUL_ITERS": "200"}, timeout=300,
                           check=False)
    time.sleep(0.5)
    sampler.stop()
    elapsed = time.monotonic() - started
    emit("benchmark", exit_code=bench.returncode, stderr=bench.stderr[-500:],
         metrics=parse_results(spec, bench.stdout, {}) if bench.returncode == 0 else None)
    util = [s.fields.get("gpu0_util_pct", s.fields.get("util_gpu_pct")) for s in sink.samples]
    fields = sorted({k for s in sink.samples for k in s.fields})
    emit("nvml_collector", samples=len(sink.samples), seconds=round(elapsed, 2), fields=fields,
         max_fields=max((len(s.fields) for s in sink.samples), default=0),
         first=sink.samples[0].fields if sink.samples else None,
         busiest=max(sink.samples, key=lambda s: max((v for k, v in s.fields.items() if "util" in k), default=0)).fields
         if sink.samples else None,
         sampler_cpu_s=round(sampler.cpu_seconds, 4), cpu_ms_per_sample=round(1000 * sampler.cpu_seconds_per_sample, 3)
         if sampler.cpu_seconds_per_sample else None, utilisation_seen=[u for u in util if u is not None][:5])
    return 0 if bench.returncode == 0 and sink.samples else 1


if __name__ == "__main__":
    sys.exit(main())
