"""A farm of this tree's code beside the live one, for bench scripts: its own API (and worker) processes over
the stack's real Redis, Celery broker, Docker engine and Elasticsearch, but in a Redis database of its own.

The stack's API and worker may run an older build and are never restarted by a bench, so a bench that
measures a change to the submit or run path serves it here: ``benchfarm api serve`` (and ``benchfarm
worker run``) started with ``BENCHFARM_REDIS_URL`` naming database ``db``, which must be empty at start.
Job records, events, queues, hosts and heartbeats live there, so the live farm's keys, queues and
workers are untouched (its worker never sees these jobs). The worker shares this host's slot lock with
the stack's worker, as two workers of one host do. On exit every key of the database is deleted, with
the Elasticsearch documents the farm's processes wrote for these jobs (``index_prefix``'s indices and
templates when it is not the farm's, otherwise the documents naming the jobs).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from benchfarm.settings import Settings

PYTHON = [sys.executable, "-m", "benchfarm.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class IsolatedFarm:
    settings: Settings
    db: int
    env: dict[str, str]
    api_url: str
    redis: redis.Redis
    job_ids: set[str] = field(default_factory=set)  # jobs whose documents are deleted at the end

    def client(self, timeout: float = 600) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, timeout=timeout,
                            headers={"Authorization": f"Bearer {self.settings.resolved_api_token()}"})


def _database(settings: Settings, db: int) -> redis.Redis:
    url = settings.effective_redis_url.rsplit("/", 1)[0] + f"/{db}"
    mine = redis.Redis.from_url(url, decode_responses=True)
    if mine.dbsize():
        sys.exit(f"Redis database {db} is not empty: pick another with --db")
    return mine


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the bench's API exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit("the bench's API did not start")


def export_tree(rev: str, into: Path) -> Path:
    """The source tree of ``rev`` (``git archive``: the repository's worktrees and index are left alone)."""
    import shutil

    root = Path(__file__).resolve().parent.parent
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(root), "archive", rev, "benchfarm", "salt"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _wait_worker(mine: redis.Redis, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the bench's worker exited with {proc.returncode}")
        if mine.hlen("benchfarm:hosts:worker"):
            time.sleep(3)  # the Celery consumer starts after the first heartbeat
            return
        time.sleep(0.3)
    sys.exit("the bench's worker did not register")


def _delete_documents(settings: Settings, index_prefix: str, job_ids: set[str]) -> None:
    from benchfarm.adapters.elasticsearch import EsClient

    es = EsClient.from_settings(settings)
    try:
        if index_prefix != settings.index_prefix:
            for name in es.raw.indices.get(index=f"{index_prefix}*", expand_wildcards="all"):
                es.delete_index(name)
            for tpl in es.raw.indices.get_index_template(name=f"{index_prefix}*").get("index_templates", []):
                es.raw.indices.delete_index_template(name=tpl["name"])
        elif job_ids:  # this build has no _delete_by_query: find the documents, then delete them in bulk
            ids = sorted(job_ids)
            for i in range(0, len(ids), 500):
                query = {"terms": {"job_id": ids[i:i + 500]}}
                while True:
                    es.raw.indices.refresh(index=f"{index_prefix}-*", expand_wildcards="all", ignore_unavailable=True)
                    hits = es.raw.search(index=f"{index_prefix}-*", query=query, size=5000, source=False,
                                         expand_wildcards="all", ignore_unavailable=True)["hits"]["hits"]
                    if not hits:
                        break
                    es.raw.bulk(operations=[{"delete": {"_index": h["_index"], "_id": h["_id"]}} for h in hits],
                                refresh=True)
    finally:
        es.close()


@contextmanager
def isolated_farm(settings: Settings, db: int, *, worker: bool = False, index_prefix: str | None = None,
                  copy_hosts: bool = True, tree: Path | None = None) -> Iterator[IsolatedFarm]:
    """Start this tree's API (and worker) over Redis database ``db``; delete what they made on exit.

    ``tree``: run another source tree's code instead (``git archive REV``), for a before/after comparison.
    """
    mine = _database(settings, db)
    prefix = index_prefix or settings.index_prefix
    if copy_hosts and not worker:  # matching against the farm's real hosts; a worker registers its own
        farm = redis.Redis.from_url(settings.effective_redis_url, decode_responses=True)
        for key in ("benchfarm:hosts", "benchfarm:hosts:heartbeat", "benchfarm:hosts:worker"):
            if values := farm.hgetall(key):
                mine.hset(key, mapping=values)
    port = free_port()
    env = {**os.environ, "BENCHFARM_REDIS_URL": f"redis://{settings.redis_host}:{settings.redis_port}/{db}",
           "BENCHFARM_INDEX_PREFIX": prefix, "BENCHFARM_API_PORT": str(port),
           "BENCHFARM_API_URL": f"http://127.0.0.1:{port}", "BENCHFARM_AUTOSCALER": "false",
           "BENCHFARM_SCHEDULES_ENABLED": "false"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    procs: list[subprocess.Popen[bytes]] = []
    farm_ = IsolatedFarm(settings, db, env, f"http://127.0.0.1:{port}", mine)
    try:
        procs.append(api := subprocess.Popen([*PYTHON, "api", "serve", "--port", str(port)], env=env, cwd=tree))
        _wait_healthy(farm_.api_url, api)
        if worker:
            procs.append(wrk := subprocess.Popen([*PYTHON, "worker", "run"], env=env, stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL, cwd=tree))
            _wait_worker(mine, wrk)
        yield farm_
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for key in mine.scan_iter(match="benchfarm:job:*", count=5000):
            if key.count(":") == 2:
                farm_.job_ids.add(key.split(":", 2)[2])
        deleted = sum(mine.unlink(key) for key in mine.scan_iter(count=5000))
        _delete_documents(settings, prefix, farm_.job_ids)
        print(f"cleanup: {deleted} keys deleted from Redis database {db}, Elasticsearch documents of "
              f"{len(farm_.job_ids)} jobs ({prefix}) deleted", flush=True)
