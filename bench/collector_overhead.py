"""Collector overhead: a fixed-work CPU benchmark pinned to one core, with every available collector
sampling at 10 Hz (sampler thread pinned to another core) against no collectors, in paired runs whose
order alternates.  Prints the median slowdown ratio, the collectors' CPU time per sample and the
sampler's peak RSS.

    python bench/collector_overhead.py [--pairs 20] [--work 7500000]

Samples go to an in-memory sink that only counts them, so this measures sampling, not Elasticsearch.
The cgroup collector watches an idle busybox container when the docker CLI can start one.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

from benchfarm.adapters.nvml import NvmlAdapter
from benchfarm.collectors.base import Collector, Sample
from benchfarm.collectors.cgroup import CgroupCollector
from benchfarm.collectors.fpga import FpgaCollector
from benchfarm.collectors.gpu import GpuCollector
from benchfarm.collectors.host import HostCollector
from benchfarm.collectors.sampler import Sampler, choose_sampler_cpu

WORKLOAD = """
import hashlib, os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
n = int(sys.argv[2])
h = hashlib.sha256(b"benchfarm")
t0 = time.perf_counter()
for _ in range(n):
    h.update(h.digest())
print(time.perf_counter() - t0)
"""


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    def ship(self, samples: list[Sample]) -> None:
        self.count += len(samples)


def run_work(cpu: int, work: int) -> float:
    out = subprocess.run([sys.executable, "-c", WORKLOAD, str(cpu), str(work)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


def start_idle_container() -> str | None:
    try:
        r = subprocess.run(["docker", "run", "-d", "--rm", "--network", "none", "benchfarm-test/busybox:latest",
                            "sleep", "3600"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def make_collectors(job_cpu: int, container: str | None) -> list[Collector]:
    cols: list[Collector] = [HostCollector({job_cpu}), GpuCollector(open_reader=NvmlAdapter), FpgaCollector()]
    if container:
        cols.append(CgroupCollector(container))
    return cols


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--work", type=int, default=7_500_000, help="sha256 iterations per run (~1.5 s here)")
    ap.add_argument("--interval", type=float, default=0.1)
    args = ap.parse_args()

    cpus = sorted(os.sched_getaffinity(0))
    job_cpu = cpus[-1]
    sampler_cpu = choose_sampler_cpu({job_cpu}, set(cpus))
    container = start_idle_container()
    try:
        probe = make_collectors(job_cpu, container)
        avail = {c.name: c.available() for c in probe}
        for c in probe:
            c.close()
        print(f"host: {platform.node()} {platform.processor() or platform.machine()}, CPUs {cpus}, "
              f"job on CPU {job_cpu}, sampler on CPU {sampler_cpu}, interval {args.interval}s")
        for name, av in avail.items():
            print(f"  collector {name:7s} {'available' if av else 'unavailable'}: {av.reason}")
        run_work(job_cpu, args.work // 10)  # warm-up

        ratios, base_t, coll_t, per_tick, per_sample = [], [], [], [], []
        peak_buffer = 0
        t_start = time.monotonic()
        for i in range(args.pairs):
            order = ("none", "with") if i % 2 == 0 else ("with", "none")
            times = {}
            for mode in order:
                if mode == "none":
                    times[mode] = run_work(job_cpu, args.work)
                    continue
                sink = CountingSink()
                s = Sampler(make_collectors(job_cpu, container), sink, interval_s=args.interval,
                            batch_interval_s=10.0, cpu_affinity={sampler_cpu} if sampler_cpu is not None else None,
                            job_id=f"bench-{i}").start()
                times[mode] = run_work(job_cpu, args.work)
                s.stop()
                if s.ticks:
                    per_tick.append(s.cpu_seconds / s.ticks)
                    per_sample.append(s.cpu_seconds / s.samples_taken)
                peak_buffer = max(peak_buffer, s.peak_buffer)
                assert sink.count == s.samples_taken, "samples lost"
            base_t.append(times["none"])
            coll_t.append(times["with"])
            ratios.append(times["with"] / times["none"])
            print(f"  pair {i + 1:2d} ({order[0]:>4s} first): none {times['none']:.3f}s  with {times['with']:.3f}s  "
                  f"ratio {ratios[-1]:.4f}")
        q = statistics.quantiles(ratios, n=4)
        print(f"pairs: {args.pairs} in {time.monotonic() - t_start:.0f}s")
        print(f"median slowdown ratio (with/none): {statistics.median(ratios):.4f}  "
              f"(IQR {q[0]:.4f}..{q[2]:.4f}; median none {statistics.median(base_t):.3f}s, "
              f"with {statistics.median(coll_t):.3f}s)")
        print(f"sampler CPU time per tick (all collectors): {statistics.median(per_tick) * 1e3:.3f} ms; "
              f"per sample: {statistics.median(per_sample) * 1e3:.3f} ms")
        for c in make_collectors(job_cpu, container):
            if not c.available():
                continue
            t0 = time.thread_time()
            for _ in range(200):
                c.sample()
            print(f"  {c.name:7s} sample(): {(time.thread_time() - t0) / 200 * 1e6:.1f} us CPU")
            c.close()
        print(f"sampler peak RSS (benchmark process, which hosts the sampler thread): "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB; peak buffer {peak_buffer} samples")
    finally:
        if container:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
