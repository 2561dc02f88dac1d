"""Bulk submit: jobs accepted durably per second, ``POST /jobs:bulk`` against N single ``POST /jobs``.

Both sides talk over HTTP to this tree's API, served by ``benchfarm api serve`` in a process of its own
on a free port, over the farm's real Redis (appendfsync always: a 202 means the records are on disk),
the real Celery broker and Docker engine, but in a Redis database of its own (``--db``, empty at start:
the live farm's keys, queues and workers are untouched) with the farm's hosts copied in, so matching
is real, and an index prefix of its own for the event mirror (``bfc16b``, deleted after). No worker
consumes that database, so the jobs stay queued and nothing runs. Rounds alternate which side goes
first; each side submits ``--jobs`` no-op jobs of the farm's busybox test image. At the end it checks
that every accepted job's record and broker message is in Redis, then deletes the database's keys
and the indices.

``--cli``: also times ``benchfarm submit SPEC --count N`` (CLI start included) once.
``--profile``: also profiles ``JobService.submit_many`` of ``--jobs`` jobs in this process.

Usage: python bench/bulk_submit.py [--jobs 1000] [--rounds 3] [--db 12] [--cli] [--profile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from isolated_farm import isolated_farm

from benchfarm.settings import get_settings

IMAGE = "benchfarm-test/busybox:latest"
INDEX_PREFIX = "bfc16b"


def spec(i: int) -> dict[str, Any]:
    return {"name": "c16-bulk-noop", "image": IMAGE, "command": ["true"], "repetitions": 1, "warmup": 0,
            "labels": {"c16": "bulk-bench", "i": str(i)}}


def single(client: httpx.Client, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        client.post("/jobs", json=spec(i)).raise_for_status()
    return n / (time.perf_counter() - start)


def bulk(client: httpx.Client, n: int) -> float:
    body = {"jobs": [spec(i) for i in range(n)]}
    start = time.perf_counter()
    resp = client.post("/jobs:bulk", json=body)
    resp.raise_for_status()
    elapsed = time.perf_counter() - start
    assert len(resp.json()["jobs"]) == n
    return n / elapsed


def via_cli(env: dict[str, str], n: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="c16-bulk-", delete=False) as f:
        yaml.safe_dump(spec(0), f)
    try:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "benchfarm.cli.main", "submit", f.name, "--count", str(n), "--json"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        return n / (time.perf_counter() - start)
    finally:
        Path(f.name).unlink()


def profile(env: dict[str, str], n: int) -> None:
    """cProfile of ``submit_many`` in this process, over the bench's database."""
    import cProfile
    import pstats

    os.environ.update(env)
    get_settings.cache_clear()
    from benchfarm.composition import Farm
    from benchfarm.spec.loader import load_spec_data

    farm = Farm(get_settings())
    specs = [load_spec_data(spec(i)) for i in range(n)]
    farm.job_service.submit_many(specs[:1])  # connections, the queue's binding, the image
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    farm.job_service.submit_many(specs)
    prof.disable()
    print(f"profile: submit_many of {n} in-process {n / (time.perf_counter() - start):,.0f} jobs/s "
          "(under cProfile)")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    farm.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--db", type=int, default=12, help="an empty Redis database for the bench's keys")
    ap.add_argument("--cli", action="store_true")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    settings = get_settings()
    submitted = 0
    with isolated_farm(settings, args.db, index_prefix=INDEX_PREFIX) as farm:
        client = farm.client()
        bulk(client, 1)
        single(client, 1)  # warm: connections, the queue's binding, the image look-up path
        submitted += 2
        rates: dict[str, list[float]] = {"single": [], "bulk": []}
        load = []
        for rnd in range(args.rounds):
            order = ["single", "bulk"] if rnd % 2 == 0 else ["bulk", "single"]
            for side in order:
                load.append(os.getloadavg()[0])
                rate = single(client, args.jobs) if side == "single" else bulk(client, args.jobs)
                submitted += args.jobs
                rates[side].append(rate)
                print(f"round {rnd + 1} {side:6s}: {rate:,.0f} jobs/s ({args.jobs} jobs, accepted durably)",
                      flush=True)
        for side, r in rates.items():
            print(f"{side:6s}: median {statistics.median(r):,.0f} jobs/s (min {min(r):,.0f}, max {max(r):,.0f})")
        ratio = statistics.median(rates["bulk"]) / statistics.median(rates["single"])
        print(f"bulk/single: {ratio:.1f}x; bulk {statistics.median(rates['bulk']):,.0f} jobs/s (target >= 1,000); "
              f"load average {min(load):.1f}-{max(load):.1f}")
        if args.cli:
            rate = via_cli(farm.env, args.jobs)
            submitted += args.jobs
            print(f"cli: benchfarm submit --count {args.jobs}: {rate:,.0f} jobs/s (CLI start included)")
        if args.profile:
            profile(farm.env, args.jobs)
            submitted += args.jobs + 1
        mine = farm.redis
        records = sum(1 for k in mine.scan_iter(match="benchfarm:job:*", count=5000) if k.count(":") == 2)
        queued = sum(mine.llen(k) for k in mine.scan_iter(match="pool.*", count=1000) if mine.type(k) == "list")
        print(f"check: {records} job records and {queued} broker messages in Redis for {submitted} jobs accepted")

if __name__ == "__main__":
    main()
