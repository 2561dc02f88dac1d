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

``--before REV`` runs REV's code too (``git archive``, its own API and worker in database ``--db + 1``), in
every round in rotating order, so a change to the path is measured side by side with the code before it.

Usage: python bench/e2e_overhead.py [--pairs 20] [--db 12] [--before REV]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from isolated_farm import export_tree, isolated_farm

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
        "api: record -> 202 (store, events, broker, reply)": t_accepted - at["submitted"],
        "celery: 202 -> worker -> claim written": at["started"] - t_accepted,
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
    parser.add_argument("--before", metavar="REV", help="also run REV's code (API and worker, in database "
                        "--db + 1) in every round, in rotating order: the ratio of this tree to it")
    args = parser.parse_args()
    settings = get_settings()
    with ExitStack() as stack:
        sides: dict[str, ApiClient | None] = {"raw": None}
        farm = stack.enter_context(isolated_farm(settings, args.db, worker=True))
        sides["farm"] = ApiClient(farm.api_url, settings.resolved_api_token())
        if args.before:
            tree = export_tree(args.before, Path(tempfile.gettempdir()) / f"c16-e2e-{args.before[:12]}")
            stack.callback(shutil.rmtree, tree, True)
            old = stack.enter_context(isolated_farm(settings, args.db + 1, worker=True, tree=tree))
            sides["before"] = ApiClient(old.api_url, settings.resolved_api_token())
        for client in sides.values():  # warm caches once, not measured
            raw_run() if client is None else farm_run(client)
        times: dict[str, list[float]] = {side: [] for side in sides}
        breakdown: dict[str, dict[str, list[float]]] = {side: {} for side in sides if side != "raw"}
        loads = []
        names = list(sides)
        for i in range(args.pairs):
            loads.append(os.getloadavg()[0])
            order = names[i % len(names):] + names[:i % len(names)]
            if (i // len(names)) % 2:
                order.reverse()
            for side in order:
                client = sides[side]
                if client is None:
                    times[side].append(raw_run())
                    continue
                elapsed, parts, _ = farm_run(client)
                times[side].append(elapsed)
                for k, v in parts.items():
                    breakdown[side].setdefault(k, []).append(v)
            print(f"round {i + 1:2d}: " + "  ".join(f"{side} {times[side][-1]:.3f}s" for side in names)
                  + f"  farm/raw {times['farm'][-1] / times['raw'][-1]:.3f}", flush=True)
    ratios = [f / r for f, r in zip(times["farm"], times["raw"], strict=True)]
    q = statistics.quantiles(ratios, n=4)
    print(f"\nend-to-end: median ratio farm/raw = {statistics.median(ratios):.3f} "
          f"(IQR {q[0]:.3f}..{q[2]:.3f}; median raw {statistics.median(times['raw']):.3f}s, median farm "
          f"{statistics.median(times['farm']):.3f}s; {args.pairs} rounds; load average "
          f"{min(loads):.1f}-{max(loads):.1f}; target <= 1.10)")
    if "before" in times:
        old_ratios = [b / r for b, r in zip(times["before"], times["raw"], strict=True)]
        gain = [f / b for f, b in zip(times["farm"], times["before"], strict=True)]
        q = statistics.quantiles(old_ratios, n=4)
        print(f"before ({args.before}): median ratio before/raw = {statistics.median(old_ratios):.3f} "
              f"(IQR {q[0]:.3f}..{q[2]:.3f}; median {statistics.median(times['before']):.3f}s); this tree/before "
              f"= {statistics.median(gain):.3f} per round (median)")
    print("\nwhere a farm job's time goes (median ms over the rounds; 'runner: run' holds the container's own "
          "run, which a raw docker run pays too; the code before has no runner phases):")
    cols = list(breakdown)
    print(f"  {'':58s}" + "".join(f"{c:>10s}" for c in cols))
    for k in breakdown["farm"]:
        print(f"  {k:58s}" + "".join(f"{statistics.median(breakdown[c].get(k, [0.0])) * 1000:10.1f}" for c in cols))

if __name__ == "__main__":
    main()
