"""Submit to first repetition on an elastic pool: cold (no host: the autoscaler creates one through salt-cloud)
and warm (the host made for the cold job is still there), measured side by side.

Needs the one-host farm up (`benchfarm stack up`) and builds the node image first when missing (not timed).
An elastic pool of its own (one host at most, ``--cpus``/``--memory``) is defined; this script runs an
autoscaler of its own, passing every second (the worker's housekeeping may run one too: the lease lets one
of them decide, whichever it is). Each round:

- ``cold``: a no-op job for the pool at zero hosts is submitted; the time from the submit to its first
  repetition's start (the job record's ``repetitions[0].started_at``) and to the job's end;
- ``warm``: as soon as that job ends, a second one, which the live host takes;
- then the host is left idle until the autoscaler destroys it (``--idle-timeout``), before the next round.

Everything made (pool, hosts, keys, ledger entries, profile) is removed at the end.

Usage: python bench/pool_latency.py [--rounds 2] [--cpus 1] [--memory 1g] [--idle-timeout 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime

from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.elastic.lease import LEASE_KEY
from benchfarm.elastic.store import DEFINITIONS_KEY, LEDGER_KEY, USAGE_KEY
from benchfarm.inventory.inventory import REASONS_KEY
from benchfarm.nodes.image import NodeImageBuilder
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.settings import get_settings
from benchfarm.stack import salt_cloud
from benchfarm.stack.node_enrolment import SaltNodeEnrolment

IMAGE = "benchfarm-test/busybox:latest"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _noop(pool: str, image: str) -> dict:
    return {"name": "bench-pool-latency", "image": image, "command": ["sh", "-c", "echo '{\"noop\": 1}'"],
            "warmup": 0, "repetitions": 1, "timeout_s": 60, "requirements": {"pool": pool},
            "results": {"format": "json-lines", "metrics": {"noop": {"unit": "count", "direction": "higher"}}}}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = get_settings()
        self.farm = Farm(self.settings)
        self.api = ApiClient.from_settings(self.settings)
        self.pool = f"h13-bench-{uuid.uuid4().hex[:4]}"
        self.stop = threading.Event()
        self.scaler = self.farm.build_autoscaler(holder=f"{self.pool}-bench")

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.scaler.run_once()
            except Exception as exc:  # retried next second, as the housekeeping loop does
                _say(f"autoscaler pass failed: {exc}")
            self.stop.wait(1.0)

    def job(self, submitted: float) -> dict[str, float]:
        job_id = self.api.submit(_noop(self.pool, self.args.image))["id"]
        deadline = time.monotonic() + self.args.job_timeout
        while (job := self.api.job(job_id))["status"] not in ("succeeded", "failed", "cancelled"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} still {job['status']} after {self.args.job_timeout} s")
            time.sleep(0.2)
        if job["status"] != "succeeded":
            raise RuntimeError(f"job {job_id} {job['status']}: {job.get('reason')}")
        first = _ts(job["repetitions"][0]["started_at"])
        return {"first_repetition_s": first - submitted, "finished_s": _ts(job["finished_at"]) - submitted,
                "host": job["host_id"]}

    def wait_gone(self) -> None:
        deadline = time.monotonic() + 300
        while any(e.pool == self.pool for e in self.farm.elastic_pools.entries().values()):
            if time.monotonic() > deadline:
                raise RuntimeError("the idle host was not destroyed within 300 s")
            time.sleep(1)

    def run(self) -> dict[str, list[dict]]:
        self.farm.elastic_pools.create({"name": self.pool, "cpus": self.args.cpus, "memory": self.args.memory,
                                        "max_hosts": 1, "idle_timeout_s": self.args.idle_timeout,
                                        "description": "bench/pool_latency.py"})
        thread = threading.Thread(target=self._loop, daemon=True)
        thread.start()
        out: dict[str, list[dict]] = {"cold": [], "warm": []}
        try:
            for r in range(self.args.rounds):
                cold = self.job(time.time())
                cold["decider"] = (self.farm.kv.get(LEASE_KEY) or "?").split("|")[0]
                _say(f"round {r + 1}: cold {cold['first_repetition_s']:.1f} s to the first repetition")
                warm = self.job(time.time())
                _say(f"round {r + 1}: warm {warm['first_repetition_s']:.1f} s to the first repetition")
                out["cold"].append(cold)
                out["warm"].append(warm)
                self.wait_gone()
        finally:
            self.stop.set()
            thread.join(timeout=30)
            self.cleanup()
        return out

    def cleanup(self) -> None:
        enrol = SaltNodeEnrolment(self.settings, self.farm.nodes, self.farm.host_registry)
        for name, entry in self.farm.elastic_pools.entries().items():
            if entry.pool == self.pool:
                with contextlib.suppress(Exception):
                    enrol.remove(name, _say)
                self.farm.kv.hdel(LEDGER_KEY, name)
        for host_id, raw in self.farm.kv.hgetall(HostRegistry.KEY).items():  # retired ones too
            if json.loads(raw).get("pool") == self.pool:
                self.farm.host_registry.remove(host_id)
                self.farm.kv.hdel(REASONS_KEY, host_id)
        for key in self.farm.kv.hgetall(USAGE_KEY):
            if key.startswith(f"{self.pool}|"):
                self.farm.kv.hdel(USAGE_KEY, key)
        self.farm.kv.hdel(DEFINITIONS_KEY, self.pool)
        salt_cloud.remove_profile(self.settings, salt_cloud.pool_profile_name(self.pool))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cpus", default="1")
    parser.add_argument("--memory", default="1g")
    parser.add_argument("--idle-timeout", type=float, default=8.0)
    parser.add_argument("--job-timeout", type=float, default=420.0)
    parser.add_argument("--image", default=IMAGE)
    args = parser.parse_args()
    bench = Bench(args)
    NodeImageBuilder(bench.farm.images, bench.farm.nodes.config).ensure(_say)  # not timed
    results = bench.run()
    cold = statistics.median(r["first_repetition_s"] for r in results["cold"])
    warm = statistics.median(r["first_repetition_s"] for r in results["warm"])
    print(f"pool {bench.pool}: {args.rounds} round(s), node CPUs {args.cpus}, {args.memory}")
    print(f"{'':6} {'submit -> 1st repetition (s)':>30} {'submit -> finished (s)':>24}")
    for kind in ("cold", "warm"):
        firsts = ", ".join(f"{r['first_repetition_s']:.1f}" for r in results[kind])
        ends = ", ".join(f"{r['finished_s']:.1f}" for r in results[kind])
        print(f"{kind:6} {firsts:>30} {ends:>24}")
    print(f"median: cold {cold:.1f} s, warm {warm:.1f} s, cold/warm {cold / warm:.1f}x")
    deciders = sorted({r["decider"] for r in results["cold"]})
    print(f"decided by: {', '.join(deciders)} (this script's autoscaler passes every second, a worker's "
          "housekeeping every 10 s)")
    joined = _joined_seconds(bench)
    if joined:
        print(f"create -> joined (salt-cloud -p, minion start, reactor, worker heartbeat): "
              f"{', '.join(f'{s:.1f}' for s in joined)} s")


def _joined_seconds(bench: Bench) -> list[float]:
    """The autoscaler's own timing of each host it made for the pool (its ``joined`` events)."""
    from benchfarm.adapters.elasticsearch import EsClient

    index = f"{bench.settings.index_prefix}-pool-events"
    try:
        es = EsClient.from_settings(bench.settings)
        es.refresh(index)
        hits = es.search(index, {"size": 50, "query": {"bool": {"filter": [
            {"term": {"pool": bench.pool}}, {"term": {"action": "joined"}}]}}})["hits"]["hits"]
    except Exception as exc:  # the figures above stand without it
        _say(f"could not read the pool events: {exc}")
        return []
    return [float(h["_source"]["seconds"]) for h in hits]


if __name__ == "__main__":
    main()
