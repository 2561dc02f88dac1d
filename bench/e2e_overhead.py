"""End-to-end overhead of the farm vs a raw `docker run --rm`, and Celery dispatch throughput.

Needs the one-host farm up (`benchfarm stack up`). Prints, measured side by side in one run:
- the median ratio of a no-op job's wall time (API submit -> job final, 1 repetition,
  no warm-up) to a raw `docker run --rm --network none` of the same image, over paired
  runs in alternating order (target: at most 1.3);
- Celery dispatch throughput: no-op tasks per second, submit to result, through the
  farm's Redis broker and this host's worker.
Usage: python bench/e2e_overhead.py [--pairs 20] [--tasks 300]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from benchfarm.adapters.celery_app import configure, dispatch_round_trip
from benchfarm.client import ApiClient
from benchfarm.settings import get_settings

IMAGE = "benchfarm/busybox:latest"
SCRIPT = "echo '{\"noop\": 1}'"


def raw_run() -> float:
    start = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", "--network", "none", IMAGE, "sh", "-c", SCRIPT], check=True,
                   capture_output=True)
    return time.perf_counter() - start


def farm_run(client: ApiClient) -> float:
    spec = {"name": "bench-noop", "image": IMAGE, "command": ["sh", "-c", SCRIPT], "warmup": 0, "repetitions": 1,
            "results": {"format": "json-lines", "metrics": {"noop": {"unit": "count", "direction": "higher"}}}}
    start = time.perf_counter()
    job_id = client.submit(spec)["id"]
    for ev in client.follow(job_id):
        if ev["type"] in ("finished", "failed", "cancelled"):
            break
    elapsed = time.perf_counter() - start
    status = client.job(job_id)["status"]
    if status != "succeeded":
        sys.exit(f"benchmark job {job_id} {status}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=300)
    args = parser.parse_args()
    settings = get_settings()
    client = ApiClient.from_settings(settings)
    raw_run(), farm_run(client)  # warm caches once, not measured
    ratios, raws, farms = [], [], []
    for i in range(args.pairs):
        if i % 2 == 0:
            r, f = raw_run(), farm_run(client)
        else:
            f, r = farm_run(client), raw_run()
        raws.append(r)
        farms.append(f)
        ratios.append(f / r)
        print(f"pair {i + 1:2d}: raw docker run {r:.3f}s  farm job {f:.3f}s  ratio {f / r:.3f}", flush=True)
    q = statistics.quantiles(ratios, n=4)
    print(f"\nend-to-end: median ratio farm/raw = {statistics.median(ratios):.3f} "
          f"(IQR {q[0]:.3f}..{q[2]:.3f}; median raw {statistics.median(raws):.3f}s, "
          f"median farm {statistics.median(farms):.3f}s; {args.pairs} pairs; target <= 1.3)")
    configure(settings)
    dispatch_round_trip(20)  # warm-up
    seconds = dispatch_round_trip(args.tasks)
    print(f"celery dispatch: {args.tasks} no-op tasks in {seconds:.2f}s = {args.tasks / seconds:.0f} tasks/s "
          f"(submit to result, Redis broker with appendfsync always, 1 worker process)")


if __name__ == "__main__":
    main()
