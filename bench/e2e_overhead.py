"""End to end: a no-op job through the farm against a raw ``docker run --rm``, and where the farm's time goes.

Pairs in alternating order: ``docker run --rm --network none IMAGE sh -c 'echo ...'`` (the CLI, as a user
would) and the same command as a farm job (1 repetition, no warm-up): ``POST /jobs`` until the client
reads the job's ``finished`` event (server-sent events). The farm is this tree's code: its own API and
worker processes over the stack's Redis (a database of its own, ``--db``), Celery, Docker and
Elasticsearch (``bench/isolated_farm.py``; the stack's own processes are left alone).

Where the time goes is read from what the farm records for every job (no extra tracing): the job's event
timestamps (submitted, queued, started = the claim, repetition_finished, finished), the repetition's
``created_at`` and the runner's ``phases`` (create, start, collectors start, run, inspect, logs, results,
remove, collectors stop, parse), and the client's own clock before the request, at the 202 and when
the ``finished`` event arrived. All on one machine's clock.

Usage: python bench/e2e_overhead.py [--pairs 20] [--db 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime

from isolated_farm import isolated_farm

from benchfarm.client import ApiClient
from benchfarm.settings import get_settings

IMAGE = "benchfarm-test/busybox:latest"
SCRIPT = "echo '{\"noop\": 1}'"
SPEC = {"name": "c16-e2e-noop", "image": IMAGE, "command": ["sh", "-c", SCRIPT], "warmup": 0, "repetitions": 1,
        "results": {"format": "json-lines", "metrics": {"noop": {"unit": "count", "direction": "higher"}}}}
RUNNER = ("prepare", "create", "start", "collectors_start", "run", "inspect", "logs", "results", "remove",
          "collectors_stop", "parse")


def raw_run() -> float:
    start = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", "--network", "none", IMAGE, "sh", "-c", SCRIPT], check=True,
                   capture_output=True)
    return time.perf_counter() - start


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def farm_run(client: ApiClient) -> tuple[float, dict[str, float], str]:
    """Seconds from the request to the ``finished`` event read by the client, the breakdown, the job id."""
    t0, start = time.time(), time.perf_counter()
    job_id = client.submit(SPEC)["id"]
    t_accepted = time.time()
    for ev in client.follow(job_id):
        if ev["type"] in ("finished", "failed", "cancelled"):
            break
    elapsed, t_seen = time.perf_counter() - start, time.time()
    job = client.job(job_id)
    if job["status"] != "succeeded":
        sys.exit(f"benchmark job {job_id} {job['status']}: {job.get('reason')}")
    at = {e["type"]: _ts(e["at"]) for e in client.events(job_id)}
    rep = job["repetitions"][0]
    phases = rep.get("phases") or {}
    runner_start = _ts(rep["created_at"]) - phases.get("prepare", 0.0)  # created_at is read after prepare
    runner_end = runner_start + sum(phases.get(p, 0.0) for p in RUNNER)
    parts = {
        "api: request -> record (auth, validate, match, image inspect)": at["submitted"] - t0,
        "api: store record + events, send to broker": at["queued"] - at["submitted"],
        "api: reply (after queued)": t_accepted - at["queued"],
        "celery: broker -> worker -> claim written": at["started"] - at["queued"],
        "worker: claim -> runner (slot, image check, lease)": runner_start - at["started"],
        **{f"runner: {p}": phases.get(p, 0.0) for p in RUNNER},
        "worker: record repetition (Redis write, event)": at["repetition_finished"] - runner_end,
        "worker: store publish + final writes": at["finished"] - at["repetition_finished"],
        "client: finished event -> client": t_seen - at["finished"],
    }
    parts["unaccounted"] = elapsed - sum(parts.values())
    return elapsed, parts, job_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--db", type=int, default=12, help="an empty Redis database for the bench farm's keys")
    args = parser.parse_args()
    settings = get_settings()
    with isolated_farm(settings, args.db, worker=True) as farm:
        client = ApiClient(farm.api_url, settings.resolved_api_token())
        raw_run(), farm_run(client)  # warm caches once, not measured
        ratios, raws, farms, loads = [], [], [], []
        breakdown: dict[str, list[float]] = {}
        for i in range(args.pairs):
            loads.append(os.getloadavg()[0])
            if i % 2 == 0:
                r = raw_run()
                f, parts, _ = farm_run(client)
            else:
                f, parts, _ = farm_run(client)
                r = raw_run()
            raws.append(r)
            farms.append(f)
            ratios.append(f / r)
            for k, v in parts.items():
                breakdown.setdefault(k, []).append(v)
            print(f"pair {i + 1:2d}: raw docker run {r:.3f}s  farm job {f:.3f}s  ratio {f / r:.3f}", flush=True)
    q = statistics.quantiles(ratios, n=4)
    med_raw, med_farm = statistics.median(raws), statistics.median(farms)
    print(f"\nend-to-end: median ratio farm/raw = {statistics.median(ratios):.3f} "
          f"(IQR {q[0]:.3f}..{q[2]:.3f}; median raw {med_raw:.3f}s, median farm {med_farm:.3f}s; "
          f"{args.pairs} pairs; load average {min(loads):.1f}-{max(loads):.1f}; target <= 1.10)")
    print("\nwhere a farm job's time goes (median seconds over the pairs; 'runner: run' holds the container's "
          "own run, the part a raw docker run also pays):")
    for k, v in breakdown.items():
        print(f"  {k:58s} {statistics.median(v) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
