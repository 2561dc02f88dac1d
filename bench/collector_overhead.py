"""Collector overhead: a fixed-work CPU benchmark pinned to one core, with every available collector
sampling at 10 Hz (sampler thread pinned to another core) against no collectors, in paired runs whose
order alternates.  Prints the slowdown ratio (with/none) on the benchmark's own CPU time (the
workload process's ``time.process_time``: what it spent running, not the time other processes of a
shared machine held its core) with a bootstrap 95% confidence interval of the median ratio (pairs
resampled with replacement), the same on wall time, the collectors' CPU time per sample and the
sampler's peak RSS.

    python bench/collector_overhead.py [--pairs 30] [--work 7500000] [--boot 10000]

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
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(n):
    h.update(h.digest())
print(time.perf_counter() - t0, time.process_time() - c0)
"""


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    def ship(self, samples: list[Sample]) -> None:
        self.count += len(samples)


def run_work(cpu: int, work: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the benchmark process) of one run."""
    out = subprocess.run([sys.executable, "-c", WORKLOAD, str(cpu), str(work)],
                         capture_output=True, text=True, check=True)
    wall, cpu_s = out.stdout.split()
    return float(wall), float(cpu_s)


def bootstrap_ci(ratios: list[float], resamples: int, level: float = 0.95, seed: int = 16) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of ``ratios`` (the pairs resampled with replacement)."""
    import random

    rng = random.Random(seed)
    n = len(ratios)
    medians = sorted(statistics.median(rng.choices(ratios, k=n)) for _ in range(resamples))
    lo = medians[int((1 - level) / 2 * resamples)]
    hi = medians[min(resamples - 1, int((1 + level) / 2 * resamples))]
    return lo, hi


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
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--boot", type=int, default=10_000, help="bootstrap resamples")
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

        ratios, cpu_ratios, base_t, coll_t, per_tick, per_sample = [], [], [], [], [], []
        peak_buffer = 0
        loads = []
        t_start = time.monotonic()
        for i in range(args.pairs):
            order = ("none", "with") if i % 2 == 0 else ("with", "none")
            times: dict[str, tuple[float, float]] = {}
            loads.append(os.getloadavg()[0])
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
            base_t.append(times["none"][1])
            coll_t.append(times["with"][1])
            ratios.append(times["with"][0] / times["none"][0])
            cpu_ratios.append(times["with"][1] / times["none"][1])
            print(f"  pair {i + 1:2d} ({order[0]:>4s} first): CPU none {times['none'][1]:.3f}s with "
                  f"{times['with'][1]:.3f}s ratio {cpu_ratios[-1]:.4f} | wall ratio {ratios[-1]:.4f}", flush=True)
        print(f"pairs: {args.pairs} in {time.monotonic() - t_start:.0f}s; load average {min(loads):.1f}-"
              f"{max(loads):.1f}")
        lo, hi = bootstrap_ci(cpu_ratios, args.boot)
        print(f"slowdown on the benchmark's CPU time (with/none): median {statistics.median(cpu_ratios):.4f}, "
              f"95% bootstrap CI {lo:.4f}..{hi:.4f} ({args.boot} resamples; median CPU none "
              f"{statistics.median(base_t):.3f}s, with {statistics.median(coll_t):.3f}s): "
              + ("the CI excludes a slowdown above 0.5%" if hi <= 1.005 else
                 f"the CI does NOT exclude a slowdown above 0.5% (upper bound {(hi - 1) * 100:+.2f}%)"))
        wlo, whi = bootstrap_ci(ratios, args.boot)
        print(f"slowdown on wall time (with/none): median {statistics.median(ratios):.4f}, 95% bootstrap CI "
              f"{wlo:.4f}..{whi:.4f}")
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
