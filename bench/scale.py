"""Scale: the farm's own costs with 1,000 hosts, 100,000 jobs of history and 10,000 queued, and at a tenth.

Everything runs against the farm's real Redis (appendfsync always) in a database of its own (``--db``,
empty at start; the live farm's keys, queues and workers are untouched) through the farm's own code:
``HostRegistry`` (grain records and heartbeats of simulated hosts ``c16-sim-NNNNN`` in 10 pools, one in
twenty with 8 GPUs), ``JobRepository``, ``JobService`` (real matching, the Docker engine's image look-up,
the Celery broker in that database: nothing consumes it), ``Reaper``. The history is written in the
repository's key layout (record, listing entry, five events) in pipelines; the queued jobs go through
``JobService.submit_many``; 1% of them are made running with a live lease. It fills to a tenth first,
measures, fills up to full size and measures again, so both sizes run on the same machine minutes apart
(load average printed with each). Then it deletes every key of the database.

Measured at each size (median and p99 of ``--samples`` calls unless said):
- submit: ``JobService.submit`` of one job (match against every host, image look-up, three fsync'd writes);
- matching per job: ``match_hosts`` alone over the registered hosts, and reading the hosts (``hosts()``);
- reaper: one ``Reaper.sweep`` (nothing due, the steady state) and one with 1% of the running leases expired;
- jobs list: ``JobRepository.list`` as ``GET /jobs`` calls it (limit 50; and 1,000, what a submit token's
  listing scans), ``page`` at offset 5,000; hosts list: ``HostRegistry.describe`` (``GET /hosts``);
- heartbeat: one host's heartbeat write; Redis memory: ``used_memory`` growth over the empty database.

Usage: python bench/scale.py [--hosts 1000] [--history 100000] [--queued 10000] [--samples 200] [--db 14]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from benchfarm.adapters.celery_app import CeleryDispatcher
from benchfarm.adapters.docker_engine import ContainerEngine
from benchfarm.adapters.redis_store import RedisKV
from benchfarm.errors import ServiceUnavailableError
from benchfarm.execution.reaper import Reaper
from benchfarm.jobs.model import EventType, JobEvent, JobRecord, JobStatus, RepetitionRecord
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.capabilities import GpuInfo, HostCapabilities
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.scheduler.matching import match_hosts
from benchfarm.scheduler.service import JobService
from benchfarm.settings import Settings, get_settings
from benchfarm.spec.loader import load_spec_data

IMAGE = "benchfarm-test/busybox:latest"
POOLS = ["default", *(f"pool{i}" for i in range(1, 10))]
RNG = random.Random(16)


def spec_data(i: int, pool: str | None = None) -> dict[str, Any]:
    return {"name": f"c16-scale-{i % 50}", "image": IMAGE, "command": ["sh", "-c", "echo '{\"v\": 1}'"],
            "repetitions": 3, "warmup": 1, "labels": {"git_ref": uuid.uuid4().hex[:12], "branch": "main"},
            "results": {"format": "json-lines", "metrics": {"v": {"unit": "ops/s", "direction": "higher"}}},
            **({"requirements": {"pool": pool}} if pool else {})}


def sim_host(i: int) -> HostCapabilities:
    gpus = ([GpuInfo(index=g, model="NVIDIA H100 80GB HBM3", uuid=f"GPU-{i:05d}-{g}", memory_bytes=80 << 30,
                     driver_version="580.159.04") for g in range(8)] if i % 20 == 0 else [])
    return HostCapabilities(host_id=f"c16-sim-{i:05d}", pool=POOLS[i % len(POOLS)], cpu_vendor="AuthenticAMD",
                            cpu_model="AMD EPYC 9654 96-Core Processor", cpu_count=RNG.choice([16, 32, 64, 192]),
                            cpu_flags=["avx2", "avx512f", "sse4_2", "aes"], numa_nodes=2,
                            memory_bytes=RNG.choice([64, 256, 768]) << 30, gpus=gpus, max_concurrent_jobs=2)


def history_record(i: int, hosts: int) -> tuple[JobRecord, list[JobEvent]]:
    at = datetime.now(UTC) - timedelta(days=30) + timedelta(seconds=i * 2)
    host = f"c16-sim-{RNG.randrange(hosts):05d}"
    reps = [RepetitionRecord(index=r, warmup=r == 0, container_id=uuid.uuid4().hex * 2, created_at=at,
                             started_at=at, finished_at=at + timedelta(seconds=30), exit_code=0,
                             logs='{"v": 1234.5}\n', metrics={"v": 1234.5 + r}, sampler_cpu_seconds=0.01,
                             samples_taken=30, container_cpu_seconds=29.0) for r in range(4)]
    job = JobRecord(id=f"job-{at.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}", spec=spec_data(i),
                    status=JobStatus.SUCCEEDED, image_ref=IMAGE, image_digest="sha256:" + "ab" * 32,
                    image_provenance={"tags": [IMAGE], "repo_digests": [], "labels": {}, "created": ""},
                    queue=f"pool.{POOLS[i % len(POOLS)]}", host_id=host, worker_id=f"{host}:1234", attempts=1,
                    submitted_at=at, started_at=at, finished_at=at + timedelta(seconds=130), repetitions=reps,
                    labels={"git_ref": uuid.uuid4().hex[:12]}, submitted_by="ci", team="perf",
                    repetitions_run=3, hardware_class="AMD EPYC 9654 96-Core Processor")
    types = [EventType.SUBMITTED, EventType.QUEUED, EventType.STARTED, EventType.REPETITION_FINISHED,
             EventType.FINISHED]
    return job, [JobEvent(job_id=job.id, seq=n + 1, type=t, at=at) for n, t in enumerate(types)]


def fill_history(raw: redis.Redis, start: int, stop: int, hosts: int) -> None:
    prefix = JobRepository.PREFIX
    for lo in range(start, stop, 500):
        pipe = raw.pipeline(transaction=False)
        for i in range(lo, min(stop, lo + 500)):
            job, events = history_record(i, hosts)
            pipe.set(f"{prefix}:job:{job.id}", job.model_dump_json())
            pipe.zadd(f"{prefix}:jobs", {job.id: job.submitted_at.timestamp()})
            pipe.delete(f"{prefix}:job:{job.id}:events")  # a chunk sent again after a Redis restart stays right
            pipe.rpush(f"{prefix}:job:{job.id}:events", *(e.model_dump_json() for e in events))
            pipe.set(f"{prefix}:job:{job.id}:events:seq", str(len(events)))
        survive_restart(pipe.execute)


RETRIED = [0]


def survive_restart(fn: Callable[[], Any]) -> Any:
    """``fn()``, again after Redis went away and came back (another session's fault campaign may kill the
    stack's Redis; its supervisor starts it again within seconds)."""
    for attempt in range(20):
        try:
            return fn()
        except (redis.ConnectionError, ServiceUnavailableError):
            RETRIED[0] += 1
            print(f"  Redis went away; again in {2 + attempt}s", flush=True)
            time.sleep(2 + attempt)
    return fn()


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    while len(out) < n:
        t = time.perf_counter()
        try:
            fn()
        except (redis.ConnectionError, ServiceUnavailableError):  # a sample across a Redis restart is not kept
            RETRIED[0] += 1
            time.sleep(3)
            continue
        out.append(time.perf_counter() - t)
    return out


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def measure(farm: dict[str, Any], samples: int, hosts_n: int) -> dict[str, tuple[float, float]]:
    """{figure: (median s, p99 s)}."""
    service: JobService = farm["service"]
    registry: HostRegistry = farm["registry"]
    repo: JobRepository = farm["repo"]
    reaper: Reaper = farm["reaper"]
    specs = [load_spec_data(spec_data(i, POOLS[i % len(POOLS)])) for i in range(samples)]
    it = iter(specs)
    out: dict[str, list[float]] = {}
    out["submit"] = timed(lambda: farm["submitted"].append(service.submit(next(it), submitted_by="ci",
                                                                          team="perf").id), samples)
    hosts = registry.hosts()
    spec = specs[0]
    out["matching per job (match_hosts)"] = timed(lambda: match_hosts(spec, hosts), samples)
    out["hosts read (hosts())"] = timed(registry.hosts, max(10, samples // 10))
    out["reaper sweep, nothing due"] = timed(reaper.sweep, 10)
    out["jobs list (limit 50)"] = timed(lambda: repo.list(limit=50), max(10, samples // 10))
    out["jobs list (limit 1000, a submit token's scan)"] = timed(lambda: repo.list(limit=1000), 10)
    out["jobs page at offset 5000"] = timed(lambda: repo.page(5000, 50), max(10, samples // 10))
    out["hosts list (describe)"] = timed(registry.describe, max(10, samples // 10))
    host_ids = [f"c16-sim-{RNG.randrange(hosts_n):05d}" for _ in range(samples)]
    hit = iter(host_ids)
    out["heartbeat (one host)"] = timed(lambda: registry.worker_heartbeat(next(hit)), samples)
    # 1% of the running leases expire: the sweep that re-queues them
    running = repo.running(limit=100_000)
    expire = running[: max(1, len(running) // 100)]
    for job in expire:
        repo.update(job.id, lambda j: setattr(j, "lease_until", time.time() - 60))
    t = time.perf_counter()
    acted = reaper.sweep()
    out[f"reaper sweep, {len(acted)} expired leases re-queued"] = [time.perf_counter() - t]
    return {k: (statistics.median(v), p(v, 0.99)) for k, v in out.items()}


def make_running(repo: JobRepository, ids: list[str], hosts: int) -> None:
    for job_id in ids:
        host = f"c16-sim-{RNG.randrange(hosts):05d}"
        repo.claim(job_id, f"{host}:1", host, lease_s=3600, max_attempts=2)


def used_memory(raw: redis.Redis) -> int:
    return int(raw.info("memory")["used_memory"])


def stage(farm: dict[str, Any], settings: Settings, *, hosts: tuple[int, int], history: tuple[int, int],
          queued: int, samples: int) -> dict[str, Any]:
    raw: redis.Redis = farm["raw"]
    registry: HostRegistry = farm["registry"]
    t = time.perf_counter()
    for i in range(*hosts):
        survive_restart(lambda i=i: (registry.register(sim_host(i)), registry.worker_heartbeat(f"c16-sim-{i:05d}")))
    t_hosts = time.perf_counter() - t
    t = time.perf_counter()
    fill_history(raw, history[0], history[1], hosts[1])
    t_history = time.perf_counter() - t
    t = time.perf_counter()
    ids: list[str] = []
    for lo in range(0, queued, 1000):
        specs = [load_spec_data(spec_data(i, POOLS[i % len(POOLS)])) for i in range(lo, min(queued, lo + 1000))]
        ids += [j.id for j in survive_restart(lambda specs=specs: farm["service"].submit_many(
            specs, submitted_by="ci", team="perf"))]
    t_queued = time.perf_counter() - t
    survive_restart(lambda: make_running(farm["repo"], ids[: max(1, queued // 100)], hosts[1]))
    print(f"filled: hosts {hosts[0]}..{hosts[1]} in {t_hosts:.1f}s, history {history[0]}..{history[1]} in "
          f"{t_history:.1f}s, {queued} queued through submit_many in {t_queued:.1f}s "
          f"({queued / t_queued:,.0f} jobs/s), {max(1, queued // 100)} of them running", flush=True)
    load = os.getloadavg()[0]
    figures = measure(farm, samples, hosts[1])
    mem = used_memory(raw) - farm["memory0"]
    for name, (med, p99) in figures.items():
        print(f"  {name:52s} p50 {med * 1000:8.2f} ms  p99 {p99 * 1000:8.2f} ms", flush=True)
    print(f"  Redis memory growth {mem / 2**20:.1f} MB, {raw.dbsize():,} keys; load average {load:.1f}", flush=True)
    return {"figures": figures, "memory": mem, "load": load, "keys": raw.dbsize()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--history", type=int, default=100_000)
    ap.add_argument("--queued", type=int, default=10_000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--db", type=int, default=14)
    args = ap.parse_args()
    base = get_settings()
    url = f"redis://{base.redis_host}:{base.redis_port}/{args.db}"
    settings = base.model_copy(update={"redis_url": url})
    kv = RedisKV.from_settings(settings)
    raw = kv.raw
    if raw.dbsize():
        sys.exit(f"Redis database {args.db} is not empty: pick another with --db")
    repo = JobRepository(kv)
    registry = HostRegistry(kv)
    dispatcher = CeleryDispatcher(settings)
    farm = {"raw": raw, "repo": repo, "registry": registry, "submitted": [],
            "service": JobService(repo, registry, ContainerEngine.from_settings(settings), dispatcher),
            "reaper": Reaper(repo, dispatcher, None, 2), "memory0": used_memory(raw)}
    kv.set(f"{JobRepository.PREFIX}:jobs:indexed", "1")  # a live store did its one-time backfill long ago
    results = {}
    try:
        tenth = (args.hosts // 10, args.history // 10, args.queued // 10)
        results["tenth"] = stage(farm, settings, hosts=(0, tenth[0]), history=(0, tenth[1]), queued=tenth[2],
                                 samples=args.samples)
        results["full"] = stage(farm, settings, hosts=(tenth[0], args.hosts), history=(tenth[1], args.history),
                                queued=args.queued - tenth[2], samples=args.samples)
        report(results, tenth, args)
    finally:
        cleanup(raw, args.db)


def cleanup(raw: redis.Redis, db: int) -> None:
    """Delete every key of the bench's database (again after a Redis restart: the AOF brings them back)."""
    for attempt in range(10):
        try:
            deleted = sum(raw.unlink(k) for k in raw.scan_iter(count=5000))
            print(f"cleanup: {deleted} keys deleted from Redis database {db}; {raw.dbsize()} left")
            return
        except redis.ConnectionError as exc:
            print(f"cleanup: Redis went away ({exc}); trying again", flush=True)
            time.sleep(3 * (attempt + 1))


def report(results: dict[str, Any], tenth: tuple[int, int, int], args: argparse.Namespace) -> None:
    t, f = results["tenth"], results["full"]
    print(f"\nsizes: tenth = {tenth[0]} hosts, {tenth[1]:,} jobs of history, {tenth[2]:,} queued "
          f"(load average {t['load']:.1f}); full = {args.hosts} hosts, {args.history:,} history, "
          f"{args.queued:,} queued (load average {f['load']:.1f})")
    print(f"{'figure':52s} {'tenth p50':>10s} {'p99':>8s} {'full p50':>10s} {'p99':>8s} {'ratio p50':>10s}")
    for name, (med_f, p99_f) in f["figures"].items():
        key = name if name in t["figures"] else next((k for k in t["figures"] if k.startswith(name[:18])), name)
        med_t, p99_t = t["figures"].get(key, (float("nan"), float("nan")))
        print(f"{name:52s} {med_t * 1000:9.2f}ms {p99_t * 1000:7.2f}ms {med_f * 1000:9.2f}ms "
              f"{p99_f * 1000:7.2f}ms {med_f / med_t:9.2f}x")
    print(f"{'Redis memory (used_memory growth)':52s} {t['memory'] / 2**20:9.1f}MB {'':8s} "
          f"{f['memory'] / 2**20:9.1f}MB {'':8s} {f['memory'] / t['memory']:9.2f}x  ({f['keys']:,} keys at full)")
    sub = f["figures"]["submit"][1] * 1000
    print(f"submit p99 at full size {sub:.1f} ms (target <= 50 ms); {RETRIED[0]} calls retried across a Redis "
          "restart (not counted)")


if __name__ == "__main__":
    main()
