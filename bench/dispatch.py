"""Dispatch: no-op Celery tasks per second through the farm's broker, the farm's Celery settings against
the same settings before issue 16, side by side in one run.

Each round starts one Celery worker process (prefork pool of ``--concurrency``) configured as that side's
settings say, on a queue of its own (``pool.h16-dispatch-<id>``: the farm's Redis users may only touch
``pool.*`` queues, and no host consumes this one), sends ``--tasks`` no-op ``benchfarm.ping`` tasks
through the farm's Redis (appendfsync always), then one more whose result it waits for: the worker
takes the queue in order, so when that one is done all are. Tasks/s = tasks / (first send -> last
done). Sides alternate which goes first; the median of the rounds is printed with the spread.

- ``before``: result backend on every task, task events (sent, received, started, succeeded),
  ``task_track_started`` (one more backend write per task): what ``configure`` set before issue 16.
- ``farm``: ``benchfarm.adapters.celery_app.configure`` as it is now.

Usage: python bench/dispatch.py [--tasks 2000] [--rounds 3] [--concurrency 1] [--workers 1] [--batch]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

from benchfarm.adapters.celery_app import TASK_PING, app, configure
from benchfarm.settings import get_settings

BEFORE = {"task_track_started": True, "worker_send_task_events": True, "task_send_sent_event": True,
          "task_ignore_result": False}


def setup(side: str) -> None:
    configure(get_settings())
    if side == "before":
        app.conf.update(BEFORE)


def worker(side: str, queue: str, concurrency: int) -> None:
    """The worker process of one round (``--worker``)."""
    setup(side)
    import benchfarm.worker.tasks  # noqa: F401  (registers the ping task, as the farm's worker does)

    events = ["-E"] if app.conf.worker_send_task_events else []
    app.worker_main(["worker", "-Q", queue, "-n", f"{queue}@%h", "-c", str(concurrency), *events,
                     "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"])


def one_round(side: str, tasks: int, concurrency: int, workers: int = 1, batch: bool = False) -> float:
    """Tasks per second of ``side``, with fresh workers on a fresh queue.

    ``workers`` worker processes (hosts, each with its own broker connection) consume the queue;
    ``batch`` sends the tasks in one pipeline, as the farm's bulk submit does (``enqueue_many``).
    """
    queue = f"pool.h16-dispatch-{uuid.uuid4().hex[:8]}"
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", side, queue, str(concurrency)],
                              env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL)
             for _ in range(workers)]
    try:
        setup(side)
        for _ in range(workers):  # every worker is up (each takes one)
            app.send_task(TASK_PING, args=[-1], queue=queue, ignore_result=False).get(timeout=120)
        opts: dict[str, Any] = {"queue": queue}
        start = time.perf_counter()
        if batch:
            with app.producer_or_acquire() as producer, producer.batch(max_size=tasks):
                for i in range(tasks):
                    app.send_task(TASK_PING, args=[i], producer=producer, **opts)
        else:
            for i in range(tasks):
                app.send_task(TASK_PING, args=[i], **opts)
        # the queue is served in order, so once one more task per worker is done, all before are
        last = [app.send_task(TASK_PING, args=[tasks], queue=queue, ignore_result=False) for _ in range(workers)]
        for r in last:
            r.get(timeout=600)
        return (tasks + workers) / (time.perf_counter() - start)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        with app.connection_for_write() as conn:  # the queue's lists and kombu's bindings of it
            client = conn.default_channel.client
            client.delete(queue, *(f"{queue}:{step}" for step in range(1, 10)), f"_kombu.binding.{queue}",
                          f"_kombu.binding_permanent.{queue}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=1, help="pool processes per worker (the farm's runs 1)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes on the queue (hosts of one pool)")
    ap.add_argument("--batch", action="store_true", help="send the tasks in one pipeline (the bulk submit's way)")
    args = ap.parse_args()
    rates: dict[str, list[float]] = {"before": [], "farm": []}
    for rnd in range(args.rounds):
        order = ["before", "farm"] if rnd % 2 == 0 else ["farm", "before"]
        for side in order:
            rate = one_round(side, args.tasks, args.concurrency, args.workers, args.batch)
            rates[side].append(rate)
            print(f"round {rnd + 1} {side:6s}: {rate:,.0f} tasks/s ({args.tasks} no-op tasks, submit to done)",
                  flush=True)
    for side, r in rates.items():
        print(f"{side:6s}: median {statistics.median(r):,.0f} tasks/s (min {min(r):,.0f}, max {max(r):,.0f})")
    ratio = statistics.median(rates["farm"]) / statistics.median(rates["before"])
    print(f"dispatch farm/before: {ratio:.2f}x; farm {statistics.median(rates['farm']):,.0f} tasks/s "
          f"(target >= 1,000 tasks/s)")


if __name__ == "__main__":
    main()
