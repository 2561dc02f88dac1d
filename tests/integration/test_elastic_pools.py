"""An elastic pool on the real farm: hosts made by salt-cloud through the farm's node driver when a job needs
one, destroyed when idle, with one decision-maker.

The pool (one node at most, CPU 1, 1 GiB, a 5 s idle timeout) starts at zero hosts. A job for it is
accepted and says why it waits; two autoscaler instances of this process (and the worker's housekeeping,
if it runs one) share the real Redis lease, so exactly one node is created, through ``salt-cloud -p``;
it joins through Salt (the minion-start reactor starts its worker) and runs the job; left idle, it is
drained and destroyed, and the decisions, the host's hours and the job's cost are events in the real
Elasticsearch. Everything made is removed in the finaliser.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.adapters.redis_lease import RedisLeases
from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.dashboards.panels import panel
from benchfarm.dashboards.queries import panel_request
from benchfarm.elastic.lease import DecisionLease
from benchfarm.nodes.image import NodeImageBuilder
from benchfarm.settings import Settings
from benchfarm.stack.node_enrolment import SaltNodeEnrolment
from tests.integration.elastic_support import Scalers, poll, progress, remove_pool
from tests.integration.jobs_support import busybox_spec, cli, dump, wait_final

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SESSION = uuid.uuid4().hex[:4]
POOL = f"h13-{SESSION}"


@pytest.fixture(scope="module")
def efarm(farm, settings: Settings) -> Farm:
    return Farm(settings)


@pytest.fixture(scope="module")
def node_image(farm, catalogue_image, efarm: Farm) -> str:
    """Built (or reused) before the clock starts, as `benchfarm nodes image` does."""
    catalogue_image("base")
    return NodeImageBuilder(efarm.images, efarm.nodes.config).ensure(progress).ref


@pytest.fixture(scope="module")
def pool(efarm: Farm, settings: Settings, node_image: str) -> Iterator[str]:
    """The elastic pool, defined with the CLI; its hosts, keys, ledger, usage and definition go afterwards."""
    res = cli("pool", "create", POOL, "--cpus", "1", "--memory", "1g", "--max-hosts", "1", "--idle-timeout", "5",
              "--price", "3.6", "--budget", "100", "--description", "issue-13 integration test")
    assert res.returncode == 0, res.stderr
    try:
        yield POOL
    finally:
        remove_pool(efarm, settings, POOL)


@pytest.fixture(scope="module")
def scalers(efarm: Farm, pool: str) -> Iterator[Scalers]:
    s = Scalers(efarm, POOL).start()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def api(farm, settings: Settings) -> ApiClient:
    return ApiClient.from_settings(settings)


@pytest.fixture(scope="module")
def es(farm, settings: Settings) -> Iterator[EsClient]:
    client = EsClient.from_settings(settings)
    yield client
    client.close()


@pytest.fixture(scope="module")
def ran(pool: str, scalers: Scalers, api: ApiClient, efarm: Farm, busybox_image: str) -> dict[str, Any]:
    """A job for the pool at zero hosts, submitted, waited for, and what was seen while it waited."""
    assert not [h for h in efarm.host_registry.hosts() if h.pool == POOL]
    spec = busybox_spec(busybox_image, "sleep 12; echo '{\"value\": 13}'", name=f"{POOL}-job",
                        requirements={"pool": POOL}, timeout_s=120)
    job_id = api.submit(spec)["id"]
    reasons: list[str] = []

    def running_or_done() -> bool:
        wait = api.get(f"/jobs/{job_id}/wait").json()
        if wait["reason"]:
            reasons.append(wait["reason"])
        return wait["status"] not in ("submitted", "queued")

    poll("the job starts", running_or_done, timeout_s=420, every_s=1.0)
    return {"job": wait_final(api, job_id, timeout_s=120), "reasons": reasons}


def test_a_job_for_a_pool_at_zero_hosts_gets_a_node_that_joins_and_runs_it(ran: dict[str, Any], efarm: Farm,
                                                                          settings: Settings) -> None:
    job = ran["job"]
    assert job["status"] == "succeeded", dump(job)
    host = job["host_id"]
    assert host.startswith(f"{POOL}-")
    assert f"waiting for a host of pool {POOL} (1 of max 1 being created)" in ran["reasons"], ran["reasons"]
    node = efarm.nodes.find(host)
    assert node is not None and node.pool == POOL and node.cpuset == "1"
    # made the salt-cloud way: its minion key was accepted by the farm's master
    assert SaltNodeEnrolment(settings, efarm.nodes, efarm.host_registry).has_key(host)


def test_two_autoscalers_on_one_lease_made_one_decision_at_a_time(ran: dict[str, Any], scalers: Scalers,
                                                                   es: EsClient, settings: Settings) -> None:
    """Two instances here (and the worker's housekeeping, if it runs one) passed every second, yet the pool
    never had more hosts than its max of one, and each decision carries the fencing token of the one holder
    that made it, never going back (a retried creation after a failed one is a later, separate decision)."""
    index = f"{settings.index_prefix}-pool-events"

    def decisions() -> list[dict[str, Any]]:
        es.refresh(index)
        hits = es.search(index, {"size": 200, "sort": [{"@timestamp": "asc"}],
                                 "query": {"term": {"pool": POOL}}})["hits"]["hits"]
        found = [h["_source"] for h in hits]
        return found if any(d["host"] == ran["job"]["host_id"] and d["action"] == "create" for d in found) else []

    made = poll("the create decision in Elasticsearch", decisions, timeout_s=60)
    alive, most = 0, 0
    for d in made:
        alive += {"create": 1, "destroyed": -1}.get(d["action"], 0)
        most = max(most, alive)
    assert most == 1, made
    assert [d["token"] for d in made] == sorted(d["token"] for d in made), made
    creates = [d for d in made if d["action"] == "create"]
    assert creates[-1]["host"] == ran["job"]["host_id"] and creates[-1]["reason"].startswith("1 queued job(s)")
    ours = [d for ds in scalers.decisions.values() for d in ds if d.action == "create"]
    assert len(ours) <= len(creates)


def test_the_lease_admits_one_holder_and_fences_a_former_one(efarm: Farm) -> None:
    leases = RedisLeases(efarm.kv)
    key = f"benchfarm:test:{POOL}:lease"
    try:
        a, b = DecisionLease(leases, "a", ttl_s=1.0, key=key), DecisionLease(leases, "b", ttl_s=1.0, key=key)
        fence_a = a.acquire()
        assert fence_a is not None and b.acquire() is None
        assert fence_a.hset(f"{key}:data", "x", "from a")
        fence_b = poll("the lease expires and b takes it", b.acquire, timeout_s=10, every_s=0.2)
        assert fence_b.token > fence_a.token
        assert not fence_a.hset(f"{key}:data", "x", "late write from a")
        assert efarm.kv.hgetall(f"{key}:data") == {"x": "from a"}
    finally:
        efarm.kv.delete(key, f"{key}:token", f"{key}:data")


def test_left_idle_the_node_is_drained_destroyed_and_costed(ran: dict[str, Any], efarm: Farm, es: EsClient,
                                                            settings: Settings, tmp_path: Path) -> None:
    host = ran["job"]["host_id"]
    poll("the idle node is destroyed", lambda: efarm.nodes.find(host) is None and host not in
          efarm.elastic_pools.entries(), timeout_s=240, every_s=1.0)
    assert host not in {h.host_id for h in efarm.host_registry.hosts()}  # retired
    index = f"{settings.index_prefix}-pool-events"

    def events() -> dict[str, dict[str, Any]]:
        es.refresh(index)
        hits = es.search(index, {"size": 100, "query": {"term": {"host": host}}})["hits"]["hits"]
        found = {h["_source"]["action"]: h["_source"] for h in hits}
        return found if {"destroyed", "job-cost"} <= found.keys() else {}

    found = poll("the destroy and cost events", events, timeout_s=60)
    assert {"create", "joined", "drain", "destroyed", "job-cost"} <= found.keys(), found.keys()
    assert "idle for" in found["drain"]["reason"]
    gone = found["destroyed"]
    assert gone["host_seconds"] > 12 and gone["cost"] == pytest.approx(gone["host_seconds"] / 3600 * 3.6, rel=1e-3)
    job_cost = found["job-cost"]
    assert job_cost["job_id"] == ran["job"]["id"] and 0 < job_cost["host_seconds"] <= gone["host_seconds"]
    # the "benchfarm: Costs" dashboard's queries, run on these documents: the pool's spend is its one host's
    # lifetime, the job's is its share
    window = {"from": ran["job"]["submitted_at"], "to": datetime.now(UTC).isoformat(), "interval": "1d"}
    index, body = panel_request(panel("costs-by-pool"), settings.index_prefix, pool=POOL, **window)
    (day,) = es.search(index, body)["aggregations"]["time"]["buckets"]
    (by_pool,) = day["by_pool"]["buckets"]
    assert by_pool["key"] == POOL and by_pool["sum_cost"]["value"] == pytest.approx(gone["cost"], rel=1e-6)
    assert by_pool["sum_host_hours"]["value"] == pytest.approx(gone["host_hours"], rel=1e-6)
    index, body = panel_request(panel("costs-by-job"), settings.index_prefix, pool=POOL, **window)
    (day,) = es.search(index, body)["aggregations"]["time"]["buckets"]
    (by_job,) = day["by_job_id"]["buckets"]
    assert by_job["key"] == ran["job"]["id"] and by_job["sum_cost"]["value"] == pytest.approx(job_cost["cost"],
                                                                                               rel=1e-6)
    # and the job's HTML report says what it cost
    out = tmp_path / "report.html"
    res = cli("report", ran["job"]["id"], "-o", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"host-hours of pool {POOL} at its price" in out.read_text()
