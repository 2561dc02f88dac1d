"""An elastic pool of two hosts at most on the real farm: a burst, fair share between two teams, the idle
hosts going, then a spent budget.

One pool (max 2 nodes, CPU 1, 1 GiB, price 36 per host-hour) starts at zero hosts, and in order:

1. a burst of 10 jobs: two nodes are made through salt-cloud and run all ten; sampled every 0.3 s, the
   pool never has more than two hosts (ledger and registry), and Elasticsearch holds two create decisions;
2. shares of half and half for teams A and B (real API tokens): A's burst of 6 jobs at priority 9 takes
   both hosts while B is idle (A borrows B's half); B's job (priority 0), submitted while A holds both,
   starts within 5 s of the first host freeing, ahead of A's queued jobs (one of them may take a host
   first only when A then ran nothing else, i.e. was below its own share), and A's queued job says
   why it waits;
3. left idle (timeout lowered to 3 s), both nodes are drained and destroyed, their hours costed;
4. the day's budget lowered below what the pool spent: a new job gets no host and says why, in the API,
   `benchfarm jobs show` and `benchfarm pool show`.

The nodes, keys, ledger entries, usage, definition, profile and tokens go in the finalisers.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.elastic.store import USAGE_KEY
from benchfarm.nodes.image import NodeImageBuilder
from benchfarm.settings import Settings
from tests.integration.elastic_support import (
    AWAY,
    Scalers,
    answered,
    cli_when_up,
    poll,
    pool_events,
    pool_query,
    progress,
    remove_pool,
    wait_job,
)
from tests.integration.jobs_support import busybox_spec, dump

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SESSION = uuid.uuid4().hex[:4]
POOL = f"h13-b{SESSION}"
TEAM_A, TEAM_B = f"{POOL}-a", f"{POOL}-b"
PRICE = 36.0  # per host-hour: 0.01 a second


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def efarm(farm, settings: Settings) -> Farm:
    return Farm(settings)


@pytest.fixture(scope="module")
def pool(efarm: Farm, settings: Settings, catalogue_image) -> Iterator[str]:
    catalogue_image("base")
    NodeImageBuilder(efarm.images, efarm.nodes.config).ensure(progress)  # before the clock starts
    res = cli_when_up("pool", "create", POOL, "--cpus", "1", "--memory", "1g", "--max-hosts", "2",
                      "--idle-timeout", "300", "--price", str(PRICE),
                      "--description", "issue-13 burst, shares and budget test")
    assert res.returncode == 0, res.stderr
    scalers = Scalers(efarm, POOL).start()
    try:
        yield POOL
    finally:
        scalers.close()
        remove_pool(efarm, settings, POOL)


@pytest.fixture(scope="module")
def es(farm, settings: Settings) -> Iterator[EsClient]:
    client = EsClient.from_settings(settings)
    yield client
    client.close()


@pytest.fixture(scope="module")
def api(farm, settings: Settings) -> ApiClient:
    return ApiClient.from_settings(settings)


@pytest.fixture(scope="module")
def teams(efarm: Farm, settings: Settings) -> Iterator[dict[str, ApiClient]]:
    """A submit token for a user of each team; revoked afterwards."""
    made = {team: efarm.tokens.create(f"{team}-user", team, "submit") for team in (TEAM_A, TEAM_B)}
    try:
        yield {team: ApiClient(settings.effective_api_url, token) for team, (token, _) in made.items()}
    finally:
        for _, record in made.values():
            efarm.tokens.revoke(record.id)


@pytest.fixture(scope="module")
def jobs(api: ApiClient) -> Iterator[list[str]]:
    """Ids of the jobs a test submitted; those not final are cancelled afterwards."""
    ids: list[str] = []
    yield ids
    for job_id in ids:
        try:
            if api.job(job_id)["status"] in ("submitted", "queued", "running"):
                api.cancel(job_id)
        except Exception as exc:  # the clean-up goes on
            progress(f"cancel {job_id}: {exc}")


def _hosts_now(efarm: Farm) -> int:
    ledger = {n for n, e in efarm.elastic_pools.entries().items() if e.pool == POOL}
    registered = {h.host_id for h in efarm.host_registry.hosts() if h.pool == POOL}
    return len(ledger | registered)


def test_a_burst_of_10_jobs_never_exceeds_max(pool: str, efarm: Farm, api: ApiClient, jobs: list[str],
                                              busybox_image: str, es: EsClient, settings: Settings) -> None:
    seen: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            if (n := answered(lambda: _hosts_now(efarm))) is not AWAY:
                seen.append(n)
            stop.wait(0.3)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for i in range(10):
            jobs.append(api.submit(busybox_spec(busybox_image, f"echo '{{\"value\": {i}}}'", name=f"{POOL}-burst-{i}",
                                                requirements={"pool": POOL}))["id"])
        done = [wait_job(api, job_id, timeout_s=420) for job_id in jobs[-10:]]
    finally:
        stop.set()
        sampler.join()
    assert all(j["status"] == "succeeded" for j in done), dump([(j["id"], j["status"], j["reason"]) for j in done])
    hosts = {j["host_id"] for j in done}
    assert hosts <= {n.name for n in efarm.nodes.list() if n.pool == POOL} and 1 <= len(hosts) <= 2, hosts
    assert max(seen) == 2 and len(seen) > 20, seen
    creates = poll("the create decisions", lambda: pool_events(es, settings, pool_query(POOL, action="create")),
                   timeout_s=120)
    assert len(creates) == 2 and all("queued job(s)" in c["reason"] for c in creates), creates


def test_two_teams_half_and_half_b_gets_the_next_free_host_and_a_borrows_while_b_is_idle(
        pool: str, efarm: Farm, teams: dict[str, ApiClient], jobs: list[str], busybox_image: str) -> None:
    res = cli_when_up("pool", "edit", POOL, "--share", f"{TEAM_A}=0.5", "--share", f"{TEAM_B}=0.5")
    assert res.returncode == 0, res.stderr
    assert efarm.elastic_pools.get(POOL).shares == {TEAM_A: 0.5, TEAM_B: 0.5}
    poll("both hosts of the pool live", lambda: sum(1 for e in efarm.elastic_pools.entries().values()
                                                     if e.pool == POOL and e.state == "live") == 2, timeout_s=120)
    shown = cli_when_up("pool", "show", POOL)
    assert f"team {TEAM_A}: share 0.5 (1 host(s))" in shown.stdout, shown.stdout + shown.stderr
    a, b = teams[TEAM_A], teams[TEAM_B]
    burst = [a.submit(busybox_spec(busybox_image, "sleep 8; echo '{\"value\": 1}'", name=f"{POOL}-a{i}",
                                   requirements={"pool": POOL}, priority=9))["id"] for i in range(6)]
    jobs += burst
    # B is idle: A's burst takes both hosts

    def two_running() -> list[dict[str, Any]]:
        now = [j for j in (a.job(i) for i in burst) if j["status"] == "running"]
        return now if len(now) == 2 else []

    running = poll("two of A's jobs running at once", two_running, timeout_s=120)
    assert len({j["host_id"] for j in running}) == 2, dump(running)
    b_id = b.submit(busybox_spec(busybox_image, "echo '{\"value\": 2}'", name=f"{POOL}-b1",
                                 requirements={"pool": POOL}, priority=0))["id"]
    jobs.append(b_id)
    # why A's last job waits now: A holds its share (and more) while B, below its share, waits
    a_wait = poll("A's last job's wait reason", lambda: a.get(f"/jobs/{burst[-1]}/wait").json(), timeout_s=30)
    assert f"team {TEAM_B} is below its share and waits" in (a_wait["reason"] or ""), a_wait
    b_job = wait_job(b, b_id, timeout_s=180)
    a_jobs = [wait_job(a, i, timeout_s=300) for i in burst]
    assert b_job["status"] == "succeeded" and all(j["status"] == "succeeded" for j in a_jobs), \
        dump([(j["id"], j["status"], j["reason"]) for j in [b_job, *a_jobs]])
    submitted, started = _ts(b_job["submitted_at"]), _ts(b_job["started_at"])
    holding = [j for j in a_jobs if _ts(j["started_at"]) < submitted]
    later = [j for j in a_jobs if _ts(j["started_at"]) >= submitted]
    # A held both hosts (its own half and B's idle one) when B's job came
    assert len(holding) == 2 and len({j["host_id"] for j in holding}) == 2, dump(holding)
    # B's job took a host as soon as one freed, ahead of A's queued burst (which had the higher priority):
    # an A job started while B's waited only when A ran no other job then (below its share of one host)
    first_free = min(_ts(j["finished_at"]) for j in holding)
    assert started - first_free < 5, (started, first_free)
    for j in later:
        at = _ts(j["started_at"])
        if at < started:
            others = [o["id"] for o in a_jobs if o is not j and _ts(o["started_at"]) <= at < _ts(o["finished_at"])]
            assert not others, f"A's {j['id']} started over A's share while B's job waited (A ran {others})"
    assert len([j for j in later if _ts(j["started_at"]) < started]) <= 1, dump([b_job, *later])
    progress(f"team B's job waited {started - submitted:.1f} s; the first host freed "
             f"{first_free - submitted:.1f} s after its submit")


def test_left_idle_both_hosts_are_drained_destroyed_and_costed(pool: str, efarm: Farm, es: EsClient,
                                                               settings: Settings) -> None:
    made = {n.name for n in efarm.nodes.list() if n.pool == POOL}
    assert len(made) == 2
    assert cli_when_up("pool", "edit", POOL, "--idle-timeout", "3").returncode == 0
    poll("the idle hosts destroyed", lambda: _hosts_now(efarm) == 0 and not
         [n for n in efarm.nodes.list() if n.pool == POOL], timeout_s=180, every_s=1.0)
    def destroyed() -> list[dict[str, Any]]:
        found = pool_events(es, settings, pool_query(POOL, action="destroyed")) or []
        return found if len(found) == 2 else []

    gone = poll("two destroyed events", destroyed, timeout_s=120)
    assert {g["host"] for g in gone} == made
    assert all(g["cost"] == pytest.approx(g["host_seconds"] / 3600 * PRICE, rel=1e-3) for g in gone), gone


def test_a_spent_budget_stops_scale_up_and_the_job_says_why(pool: str, efarm: Farm, api: ApiClient, jobs: list[str],
                                                            busybox_image: str, es: EsClient,
                                                            settings: Settings) -> None:
    spent_s = sum(float(v) for k, v in efarm.kv.hgetall(USAGE_KEY).items() if k.startswith(f"{POOL}|"))
    spent = spent_s / 3600 * PRICE
    assert spent > 0.5, spent_s  # two hosts lived through the tests above
    assert cli_when_up("pool", "edit", POOL, "--budget", f"{spent / 2:.4f}").returncode == 0
    job_id = api.submit(busybox_spec(busybox_image, "echo '{\"value\": 3}'", name=f"{POOL}-over-budget",
                                     requirements={"pool": POOL}))["id"]
    jobs.append(job_id)
    reason = f"pool {POOL}: budget spent until 00:00 UTC"
    wait = poll("the budget reason", lambda: api.get(f"/jobs/{job_id}/wait").json()
                if api.get(f"/jobs/{job_id}/wait").json()["reason"] == reason else None, timeout_s=30)
    assert wait["status"] in ("submitted", "queued")
    shown = cli_when_up("jobs", "show", job_id)
    assert shown.returncode == 0 and f"waiting: {reason}" in shown.stdout, shown.stdout + shown.stderr
    pool_shown = cli_when_up("pool", "show", POOL)
    assert pool_shown.returncode == 0 and f"jobs wait: {reason}" in pool_shown.stdout, pool_shown.stdout
    # passes of the autoscalers (this process's each second; the worker's every 10 s) make no host
    end = time.monotonic() + 25
    while time.monotonic() < end:
        assert answered(lambda: _hosts_now(efarm)) in (0, AWAY), "a host was made past the budget"
        time.sleep(1)
    creates = poll("the pool's events", lambda: pool_events(es, settings, pool_query(POOL, action="create")),
                   timeout_s=120)
    assert len(creates) == 2, creates  # the burst's two, none since
    assert poll("the job", lambda: api.job(job_id), timeout_s=60)["status"] in ("submitted", "queued")
