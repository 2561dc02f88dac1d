"""The web console's jobs list with 10,000 jobs: does page 200 cost what page 1 does?

Writes ``--jobs`` job records (each with two repetitions and a little log, like real ones) under a key
prefix of its own in the farm's Redis, then serves ``/ui/jobs`` from an API app over them (in this
process, through a test client: the time measured is the page's, not a network's) and times pages 1,
``--jobs/100`` and ``--jobs/50`` side by side:

- **by rank** (the console's listing): the page's ids read from the job listing by ``ZREVRANGE``;
- **by scan** (for comparison: what a listing that filters as it reads does, e.g. with a status filter).

Prints the median time per page and the ratio of the last page to the first for both; the records are
deleted at the end. Needs the one-host farm's Redis (``benchfarm stack up``).

Run: ``python bench/console_paging.py [--jobs 10000] [--per-page 50] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from benchfarm.api.app import create_app
from benchfarm.composition import Farm
from benchfarm.jobs.model import JobRecord, JobStatus, RepetitionRecord
from benchfarm.jobs.repository import JobRepository
from benchfarm.settings import get_settings


class BenchRepository(JobRepository):
    PREFIX = f"benchfarm:h17-bench-{uuid.uuid4().hex[:8]}"  # the farm's Redis users may only touch benchfarm:*


def _write(kv, repo: BenchRepository, n: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pipe = kv.raw.pipeline(transaction=False)
    for i in range(n):
        at = start + timedelta(seconds=i)
        job = JobRecord(id=f"job-bench-{i:06d}", spec={"name": "bench", "repetitions": 2},
                        status=JobStatus.SUCCEEDED if i % 7 else JobStatus.FAILED, submitted_at=at, host_id="vm",
                        queue="pool.default",
                        repetitions=[RepetitionRecord(index=r, exit_code=0, metrics={"ops": 100.0 + r},
                                                      logs="x" * 400) for r in range(2)])
        pipe.set(f"{repo.PREFIX}:job:{job.id}", job.model_dump_json())
        pipe.zadd(f"{repo.PREFIX}:jobs", {job.id: at.timestamp()})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def _time(client: TestClient, params: dict[str, object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        resp = client.get("/ui/jobs", params=params)
        times.append(time.perf_counter() - t)
        assert resp.status_code == 200, resp.text[:500]
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--per-page", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    settings = get_settings()
    farm = Farm(settings)
    kv = farm.kv
    repo = BenchRepository(kv)
    deps = farm.api_deps()
    deps.repo = repo
    print(f"writing {args.jobs} job records under {repo.PREFIX}:* ...")
    _write(kv, repo, args.jobs)
    try:
        client = TestClient(create_app(settings, deps))
        token = settings.resolved_api_token()
        assert client.post("/ui/login", data={"token": token}, follow_redirects=False).status_code == 303
        last = args.jobs // args.per_page
        pages = [1, max(1, last // 2), last]
        print(f"{'page':>6} {'by rank (ms)':>14} {'by scan (ms)':>14}")
        rank, scan = {}, {}
        for p in pages:
            rank[p] = _time(client, {"page": p, "per_page": args.per_page}, args.rounds)
            # the status filter takes the scanning path; nearly every job here succeeded, so it reads about as far
            scan[p] = _time(client, {"page": p, "per_page": args.per_page, "status": "succeeded"}, args.rounds)
            print(f"{p:>6} {rank[p] * 1000:>14.1f} {scan[p] * 1000:>14.1f}")
        print(f"last page / first page: by rank {rank[last] / rank[1]:.2f}x, by scan {scan[last] / scan[1]:.2f}x")
    finally:
        ids = kv.raw.zrange(f"{repo.PREFIX}:jobs", 0, -1)
        for i in range(0, len(ids), 1000):
            kv.delete(*[f"{repo.PREFIX}:job:{j}" for j in ids[i:i + 1000]])
        kv.delete(f"{repo.PREFIX}:jobs")
        print(f"removed {len(ids)} records")


if __name__ == "__main__":
    main()
