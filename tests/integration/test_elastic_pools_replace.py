"""Replace, not repair, on the real farm, and a host with a running job never destroyed.

One pool (at most one node, CPU 1, 1 GiB, idle timeout 3 s, policy on-health-check), its nodes made by
salt-cloud through the farm's node driver:

1. a job of 25 s brings the first node; the job outlasts the idle timeout many times over and passes of
   the autoscalers (this process's every second, the worker's every 10 s) fall within it, yet the node
   is never drained nor destroyed while the job runs; once it ended, the node is drained and destroyed;
2. with min 1, a node is made again; its health check fails for real (its host-lock directory removed,
   then ``benchfarm.health_check fire_event=True`` through the farm's Salt master: the health-failed
   reactor quarantines it); the autoscaler drains and destroys it and creates its successor from the
   pool's profile, which joins;
3. with policy ``never``, the successor fails its check too and stays, quarantined, through passes.

Everything made is removed in the finaliser.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.nodes.image import NodeImageBuilder
from benchfarm.settings import Settings
from tests.integration.elastic_support import (
    AWAY,
    FINAL,
    Scalers,
    answered,
    cli_when_up,
    poll,
    pool_events,
    progress,
    remove_pool,
)
from tests.integration.jobs_support import busybox_spec, dump

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SESSION = uuid.uuid4().hex[:4]
POOL = f"h13-r{SESSION}"


@pytest.fixture(scope="module")
def efarm(farm, settings: Settings) -> Farm:
    return Farm(settings)


@pytest.fixture(scope="module")
def pool(efarm: Farm, settings: Settings, catalogue_image) -> Iterator[str]:
    catalogue_image("base")
    NodeImageBuilder(efarm.images, efarm.nodes.config).ensure(progress)  # before the clock starts
    res = cli_when_up("pool", "create", POOL, "--cpus", "1", "--memory", "1g", "--max-hosts", "1",
                      "--idle-timeout", "3", "--replace", "on-health-check", "--description", "issue-13 replace test")
    assert res.returncode == 0, res.stderr
    scalers = Scalers(efarm, POOL).start()
    try:
        yield POOL
    finally:
        scalers.close()
        remove_pool(efarm, settings, POOL)


@pytest.fixture(scope="module")
def api(farm, settings: Settings) -> ApiClient:
    return ApiClient.from_settings(settings)


@pytest.fixture(scope="module")
def es(farm, settings: Settings) -> Iterator[EsClient]:
    client = EsClient.from_settings(settings)
    yield client
    client.close()


def _live_host(efarm: Farm, other_than: str = "") -> str | None:
    """The pool's host that is live in the ledger, good and heartbeating, if there is one."""
    entries = {n: e for n, e in efarm.elastic_pools.entries().items() if e.pool == POOL and e.state == "live"}
    seen = efarm.host_registry.workers_seen()
    for h in efarm.host_registry.hosts():
        if h.host_id in entries and h.host_id != other_than and h.status == "good" and \
                time.time() - seen.get(h.host_id, 0) < 60:
            return h.host_id
    return None


def _fail_health_check(efarm: Farm, host: str) -> None:
    """Break one of the node's health checks for real (its host-lock directory goes) and run the check with
    its event, as the daily schedule does: the master's health-failed reactor quarantines the host."""
    checks = efarm.salt.cmd(host, "benchfarm.health_check", [], timeout=60)[host]["checks"]
    lock_dir = checks["lock_dir"]["detail"]
    assert lock_dir.endswith("/locks"), checks
    efarm.nodes.exec(host, ["rm", "-rf", lock_dir])
    ret = efarm.salt.cmd(host, "benchfarm.health_check", [], kwarg={"fire_event": True}, timeout=60)[host]
    assert ret["failed"] == ["lock_dir"], ret
    poll(f"{host} quarantined by the reactor",
         lambda: efarm.host_registry.get(host).status in ("quarantined", "maintenance"), timeout_s=60)


def _events(es: EsClient, settings: Settings, host: str) -> dict[str, dict[str, Any]] | None:
    """The first event of each action about ``host`` (its successor's create as ``create-replacement``)."""
    found = pool_events(es, settings, {"bool": {"filter": [{"term": {"pool": POOL}}], "should": [
        {"term": {"host": host}}, {"term": {"replacing": host}}], "minimum_should_match": 1}})
    if found is None:
        return None
    out: dict[str, dict[str, Any]] = {}
    for doc in found:
        key = "create-replacement" if doc["action"] == "create" and doc.get("replacing") == host else doc["action"]
        out.setdefault(key, doc)
    return out


def test_a_host_running_a_job_is_never_destroyed_and_goes_once_idle(
        pool: str, efarm: Farm, api: ApiClient, busybox_image: str, es: EsClient, settings: Settings) -> None:
    job_id = api.submit(busybox_spec(busybox_image, "sleep 25; echo '{\"value\": 1}'", name=f"{POOL}-job",
                                     requirements={"pool": POOL}, timeout_s=120))["id"]
    try:
        host = poll("the job running on a new node", lambda: (j := api.job(job_id))["status"] == "running" and
                    j["host_id"], timeout_s=300)
        assert host.startswith(f"{POOL}-")
        checks = 0
        while (job := answered(lambda: api.job(job_id))) is AWAY or job["status"] not in FINAL:
            entries = answered(efarm.elastic_pools.entries)
            if entries is not AWAY:
                entry = entries.get(host)
                assert entry is not None and entry.state == "live", entry
                checks += 1
            assert efarm.nodes.find(host) is not None, "the host was destroyed under its running job"
            time.sleep(0.5)
    finally:
        if answered(lambda: api.job(job_id)["status"] in ("queued", "running")):
            api.cancel(job_id)
    assert job["status"] == "succeeded" and job["host_id"] == host, dump(job)
    assert checks > 20
    poll("the idle node destroyed", lambda: efarm.nodes.find(host) is None and host not in
         efarm.elastic_pools.entries(), timeout_s=120, every_s=1.0)
    found = poll("the drain and destroy events", lambda: (ev := _events(es, settings, host)) and
                 {"drain", "destroyed", "job-cost"} <= ev.keys() and ev, timeout_s=120)
    assert "idle for" in found["drain"]["reason"]
    assert found["drain"]["@timestamp"] >= job["finished_at"].replace("Z", "+00:00")[:19], (found["drain"], job)


def test_a_host_failing_its_health_check_is_replaced_from_the_profile(
        pool: str, efarm: Farm, es: EsClient, settings: Settings) -> None:
    assert cli_when_up("pool", "edit", POOL, "--min-hosts", "1", "--idle-timeout", "600").returncode == 0
    first = poll("a host made for min 1, live", lambda: _live_host(efarm), timeout_s=300, every_s=1.0)
    _fail_health_check(efarm, first)
    second = poll("a successor made from the profile, live and good", lambda: _live_host(efarm, other_than=first),
                  timeout_s=300, every_s=1.0)
    assert efarm.nodes.find(first) is None and first not in efarm.elastic_pools.entries()
    node = efarm.nodes.find(second)
    assert node is not None and node.pool == POOL and node.cpuset == "1"
    found = poll("the drain, destroy and replacement events",
                 lambda: (ev := _events(es, settings, first)) and
                 {"drain", "destroyed", "create-replacement"} <= ev.keys() and ev, timeout_s=120)
    assert "health check failed" in found["drain"]["reason"] and "replaces it" in found["drain"]["reason"]
    assert found["create-replacement"]["reason"].startswith(f"replaces {first}")
    assert found["create-replacement"]["host"] == second


def test_with_policy_never_a_failing_host_stays_quarantined(pool: str, efarm: Farm, es: EsClient,
                                                            settings: Settings) -> None:
    host = poll("the pool's live host", lambda: _live_host(efarm), timeout_s=120)
    assert cli_when_up("pool", "edit", POOL, "--replace", "never").returncode == 0
    _fail_health_check(efarm, host)
    end = time.monotonic() + 25  # this process's autoscalers pass every second, the worker's every 10 s
    while time.monotonic() < end:
        entries = answered(efarm.elastic_pools.entries)
        if entries is not AWAY:
            entry = entries.get(host)
            assert entry is not None and entry.state == "live", entry
            assert answered(lambda: efarm.host_registry.get(host).status) in ("quarantined", AWAY)
        time.sleep(1)
    assert efarm.nodes.find(host) is not None
    events = poll("the host's events", lambda: _events(es, settings, host), timeout_s=120)
    assert "drain" not in events, events
    shown = cli_when_up("pool", "show", POOL)
    assert shown.returncode == 0 and "replace never" in shown.stdout, shown.stdout
