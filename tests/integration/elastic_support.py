"""What the elastic pool tests share: polling, two autoscalers of the test process, and a clean-up that
removes every node, key, ledger entry, usage figure, definition and profile a test pool made."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.composition import Farm
from benchfarm.elastic.fair_share import PREFIX as FAIR_SHARE_PREFIX
from benchfarm.elastic.planner import Decision
from benchfarm.elastic.store import CREATING, DEFINITIONS_KEY, DESTROYING, LEDGER_KEY, SHARES_KEY, USAGE_KEY
from benchfarm.errors import ServiceUnavailableError
from benchfarm.inventory.inventory import REASONS_KEY
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.settings import Settings
from benchfarm.stack import salt_cloud
from benchfarm.stack.node_enrolment import SaltNodeEnrolment
from tests.integration.jobs_support import cli

FINAL = ("succeeded", "failed", "cancelled")


def progress(message: str) -> None:
    sys.stderr.write(f"[elastic] {message}\n")


class Away:
    """What :func:`answered` returns while a service of the shared stack does not answer."""

    def __bool__(self) -> bool:
        return False


AWAY = Away()


def answered(fn: Callable[[], Any]) -> Any:
    """``fn()``, or :data:`AWAY` while Redis, Elasticsearch or the API does not answer: other sessions' fault
    tests restart the shared stack's services, and an observation loop skips those moments instead of
    failing on them (what the code under test does while they are away is their tests' business)."""
    try:
        return fn()
    except ServiceUnavailableError as exc:
        progress(f"not answering: {exc.message}")
        time.sleep(1)
        return AWAY


def poll(what: str, fn: Callable[[], Any], timeout_s: float, every_s: float = 0.5) -> Any:
    """``fn()`` once it is truthy (a service of the stack being away counts as not yet); fails the test after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = answered(fn)
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:.0f} s"
        time.sleep(every_s)


class Scalers:
    """Two autoscalers of this process under different names, each passing once a second on its own thread
    (the worker's housekeeping may run one too: the Redis lease lets one of them decide)."""

    def __init__(self, efarm: Farm, pool: str) -> None:
        self.pool = pool
        self.instances = {name: efarm.build_autoscaler(holder=f"{pool}-{name}") for name in ("a", "b")}
        self.decisions: dict[str, list[Decision]] = {name: [] for name in self.instances}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(n,), daemon=True) for n in self.instances]

    def _loop(self, name: str) -> None:
        while not self.stop.is_set():
            try:
                self.decisions[name] += [d for d in self.instances[name].run_once() if d.pool == self.pool]
            except Exception as exc:  # a pass that fails is retried, as in the housekeeping loop
                progress(f"autoscaler {name}: {exc}")
            self.stop.wait(1.0)

    def start(self) -> Scalers:
        for t in self.threads:
            t.start()
        return self

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def remove_pool(efarm: Farm, settings: Settings, pool: str) -> None:
    """Everything the pool made, gone: its definition first (no autoscaler makes another host), then its
    nodes (salt-cloud destroy, container, key), registry records, ledger, usage, shares and profile."""
    efarm.kv.hdel(DEFINITIONS_KEY, pool)
    efarm.kv.hdel(SHARES_KEY, pool)
    # a creation or destruction under way (salt-cloud, in whichever process decided it) ends on its own and
    # writes its ledger, usage and registry afterwards: let it, then clean up after it
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and any(e.pool == pool and e.state in (CREATING, DESTROYING)
                                              for e in efarm.elastic_pools.entries().values()):
        time.sleep(1)
    enrol = SaltNodeEnrolment(settings, efarm.nodes, efarm.host_registry)
    for name, entry in efarm.elastic_pools.entries().items():
        if entry.pool == pool:
            with contextlib.suppress(Exception):
                enrol.remove(name, progress)
            efarm.kv.hdel(LEDGER_KEY, name)
    for node in efarm.nodes.list():
        if node.pool == pool:
            with contextlib.suppress(Exception):
                enrol.remove(node.name, progress)
    for host_id, raw in efarm.kv.hgetall(HostRegistry.KEY).items():  # retired ones too: test hosts leave no history
        if json.loads(raw).get("pool") == pool:
            efarm.host_registry.remove(host_id)
            efarm.kv.hdel(REASONS_KEY, host_id)
    for key in efarm.kv.hgetall(USAGE_KEY):
        if key.startswith(f"{pool}|"):
            efarm.kv.hdel(USAGE_KEY, key)
    efarm.kv.delete(f"{FAIR_SHARE_PREFIX}:{pool}:starting", f"{FAIR_SHARE_PREFIX}:{pool}:lock")
    with contextlib.suppress(Exception):
        efarm.pools.remove(pool)
    salt_cloud.remove_profile(settings, salt_cloud.pool_profile_name(pool))


def pool_events(es: EsClient, settings: Settings, query: dict[str, Any],
                size: int = 200) -> list[dict[str, Any]] | None:
    """The pool events matching ``query``, oldest first; None while Elasticsearch does not answer (other
    tests on the shared stack restart it), so a poll tries again."""
    index = f"{settings.index_prefix}-pool-events"
    try:
        es.refresh(index)
        hits = es.search(index, {"size": size, "sort": [{"@timestamp": "asc"}], "query": query})["hits"]["hits"]
    except ServiceUnavailableError as exc:
        progress(f"Elasticsearch: {exc.message}")
        return None
    return [h["_source"] for h in hits]


def wait_job(api: Any, job_id: str, timeout_s: float = 300) -> dict[str, Any]:
    """The job's record once it is final (through the stack's services being away)."""
    return poll(f"job {job_id} final", lambda: (j := api.job(job_id))["status"] in FINAL and j, timeout_s)


def pool_query(pool: str, **terms: str) -> dict[str, Any]:
    """A filter on the pool and on each ``field=value`` of ``terms``."""
    return {"bool": {"filter": [{"term": {"pool": pool}}, *({"term": {k: v}} for k, v in terms.items())]}}


def cli_when_up(*args: str, timeout_s: float = 90) -> subprocess.CompletedProcess:
    """The CLI, run again while it exits 4 (a service of the shared stack not answering: other sessions'
    fault tests restart it); any other outcome is returned as it is."""
    deadline = time.monotonic() + timeout_s
    while True:
        res = cli(*args)
        if res.returncode != 4 or time.monotonic() > deadline:
            return res
        progress(f"benchfarm {' '.join(args[:2])}: {res.stderr.strip().splitlines()[0] if res.stderr else 'exit 4'}")
        time.sleep(2)
