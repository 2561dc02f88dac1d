"""Bulk submit (a CI burst): one transaction for the records and events, one broker call, all or nothing;
the reaper resends a batch whose messages were never confirmed; the route and the CLI around it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from benchfarm.clock import FakeClock
from benchfarm.errors import NotFoundError, ServiceUnavailableError, UnsatisfiableJobError, UserInputError
from benchfarm.execution.reaper import Reaper
from benchfarm.jobs.model import EventType, JobStatus
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.scheduler.service import MAX_BULK_JOBS, JobService
from benchfarm.spec.loader import SpecValidationError, load_spec_data, load_specs_file
from tests.support.api_app import AUTH, IMAGE, IMAGE_ID, INTERNAL_TOKEN, FakeFarm, RecordingDispatcher, fake_farm
from tests.support.memory_kv import MemoryKV


class CountingImages:
    """Resolves any image but ``missing``, counting the look-ups."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def resolve_image(self, ref: str) -> SimpleNamespace:
        self.calls.append(ref)
        if ref == "missing":
            raise NotFoundError(f"resolving image {ref}: image not found")
        return SimpleNamespace(id=f"sha256:{ref}", tags=[ref], repo_digests=[], labels={}, created="")


class DownDispatcher(RecordingDispatcher):
    def enqueue_many(self, jobs: list[tuple[str, str, int]]) -> None:
        raise ServiceUnavailableError("the Celery broker (Redis) did not take a batch")


def _rig(dispatcher: RecordingDispatcher | None = None):
    kv = MemoryKV()
    repo = JobRepository(kv)
    hosts = HostRegistry(kv)
    hosts.register(HostCapabilities(host_id="h1", pool="default", cpu_count=4, memory_bytes=8 << 30))
    images = CountingImages()
    dispatcher = dispatcher or RecordingDispatcher()
    return SimpleNamespace(kv=kv, repo=repo, images=images, dispatcher=dispatcher,
                           service=JobService(repo, hosts, images, dispatcher))


def _specs(n: int, **extra):
    return [load_spec_data({"name": f"b{i}", "image": "img", **extra}) for i in range(n)]


def test_a_batch_is_stored_queued_with_both_events_and_sent_in_one_broker_call():
    rig = _rig()
    jobs = rig.service.submit_many(_specs(5), submitted_by="ci", team="t", visibility="public")
    assert len({j.id for j in jobs}) == 5
    assert rig.dispatcher.batches == [5]
    assert rig.dispatcher.sent == [(j.id, "pool.default", 5) for j in jobs]
    for job in jobs:
        stored = rig.repo.get(job.id)
        assert stored.status == JobStatus.QUEUED and stored.team == "t" and stored.image_digest == "sha256:img"
        assert [(e.seq, e.type) for e in rig.repo.events(job.id)] == [(1, EventType.SUBMITTED), (2, EventType.QUEUED)]
    assert rig.images.calls == ["img"]  # one look-up per image, not per job
    assert rig.kv.zsets[rig.repo.dispatching_key] == {}  # confirmed sent
    assert {j.id for j in rig.repo.list(limit=10)} == {j.id for j in jobs}
    # the next event of a job follows the two the batch wrote
    assert rig.repo.emit(jobs[0].id, EventType.STARTED).seq == 3


def test_one_job_no_host_can_run_refuses_the_whole_batch_naming_it():
    rig = _rig()
    specs = [*_specs(2), load_spec_data({"name": "big", "image": "img", "requirements": {"pool": "nowhere"}})]
    with pytest.raises(UnsatisfiableJobError, match=r"job 2 \(big\) of the batch.*nothing of the batch"):
        rig.service.submit_many(specs)
    assert rig.kv.data == {} and rig.dispatcher.sent == []
    assert len(rig.service.submit_many(specs, queue_anyway=True)) == 3


def test_an_unknown_image_refuses_the_whole_batch():
    rig = _rig()
    with pytest.raises(NotFoundError):
        rig.service.submit_many([*_specs(1), load_spec_data({"name": "x", "image": "missing"})])
    assert rig.repo.list() == []


@pytest.mark.parametrize("n", [0, MAX_BULK_JOBS + 1])
def test_an_empty_or_oversized_batch_is_refused(n):
    with pytest.raises(UserInputError, match="bulk submit takes"):
        _rig().service.submit_many([SimpleNamespace()] * n)


def test_a_batch_the_broker_refused_stays_stored_and_the_reaper_sends_it_after_the_grace():
    rig = _rig(DownDispatcher())
    with pytest.raises(ServiceUnavailableError):
        rig.service.submit_many(_specs(3))
    stored = rig.repo.list()
    assert len(stored) == 3 and set(rig.kv.zsets[rig.repo.dispatching_key]) == {j.id for j in stored}
    # one of them was cancelled meanwhile: it needs no message
    rig.service.cancel(stored[0].id)
    clock = FakeClock(start=datetime.now(UTC))
    reaper_dispatcher = RecordingDispatcher()
    reaper = Reaper(rig.repo, reaper_dispatcher, submitted_grace_s=30, clock=clock)
    assert reaper.sweep() == []  # within the grace the API may still be sending them
    clock.advance(31)
    acted = reaper.sweep()
    assert sorted(acted) == sorted(j.id for j in stored[1:])
    assert reaper_dispatcher.batches == [2]
    assert rig.kv.zsets[rig.repo.dispatching_key] == {}
    assert reaper.sweep() == []


# ---------------------------------------------------------------------------- API
@pytest.fixture
def farm(tmp_path) -> FakeFarm:
    f = fake_farm(tmp_path)
    f.add_host()
    return f


def _spec(name: str = "cpu", **extra):
    return {"name": name, "image": IMAGE, "command": ["true"], **extra}


def test_post_bulk_answers_202_with_every_job_in_request_order(farm):
    resp = farm.client.post("/jobs:bulk", json={"jobs": [_spec("a"), _spec("b"), _spec("c")]}, headers=AUTH)
    assert resp.status_code == 202, resp.text
    accepted = resp.json()["jobs"]
    assert [farm.deps.repo.get(j["id"]).name for j in accepted] == ["a", "b", "c"]
    assert {j["status"] for j in accepted} == {"queued"} and {j["image_digest"] for j in accepted} == {IMAGE_ID}
    assert farm.dispatcher.batches == [3]
    assert farm.deps.repo.get(accepted[0]["id"]).visibility == "private"


def test_post_bulk_with_an_invalid_spec_is_422_naming_it_and_stores_nothing(farm):
    resp = farm.client.post("/jobs:bulk", json={"jobs": [_spec(), _spec(repetitions=0)]}, headers=AUTH)
    assert resp.status_code == 422
    assert "jobs[1]" in resp.json()["error"] and "repetitions" in resp.json()["error"]
    assert farm.deps.repo.list() == [] and farm.dispatcher.sent == []


@pytest.mark.parametrize("body", [{"jobs": []}, {}, {"jobs": "x"}])
def test_post_bulk_with_no_jobs_is_422(farm, body):
    assert farm.client.post("/jobs:bulk", json=body, headers=AUTH).status_code == 422


def test_post_bulk_takes_the_same_tokens_as_post_jobs(farm):
    body = {"jobs": [_spec()]}
    assert farm.client.post("/jobs:bulk", json=body).status_code == 401
    assert farm.client.post("/jobs:bulk", json=body, headers={"Authorization": f"Bearer {INTERNAL_TOKEN}"}
                            ).status_code == 403
    token, _ = farm.deps.tokens.create("ci", "team-ci", "submit")
    resp = farm.client.post("/jobs:bulk", json=body, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 202
    job = farm.deps.repo.get(resp.json()["jobs"][0]["id"])
    assert (job.submitted_by, job.team) == ("ci", "team-ci")


def test_post_bulk_a_job_no_host_can_run_is_409(farm):
    body = {"jobs": [_spec(), _spec(requirements={"pool": "nowhere"})]}
    resp = farm.client.post("/jobs:bulk", json=body, headers=AUTH)
    assert resp.status_code == 409 and "job 1" in resp.json()["error"]
    assert farm.client.post("/jobs:bulk?queue_anyway=true", json=body, headers=AUTH).status_code == 202


# ---------------------------------------------------------------------------- CLI
def test_a_burst_file_lists_specs_and_each_entry_is_named_in_errors(tmp_path):
    burst = tmp_path / "burst.yaml"
    burst.write_text(json.dumps([{"name": "a", "image": "i"}, {"name": "b", "image": "i"}]))
    assert [s.name for s in load_specs_file(burst)] == ["a", "b"]
    burst.write_text("- {name: a, image: i}\n- {name: b}\n")
    with pytest.raises(SpecValidationError) as err:
        load_specs_file(burst)
    assert "[1]" in err.value.full_message() and "image" in err.value.full_message()
    single = tmp_path / "one.yaml"
    single.write_text("name: a\nimage: i\n")
    assert [s.name for s in load_specs_file(single)] == ["a"]


def test_count_refuses_wait_and_baseline(capsys):
    from benchfarm.cli.main import main

    assert main(["submit", "examples/cpu-sysbench.yaml", "--count", "3", "--wait"]) == 2
    assert "--wait apply to one job, not a burst" in capsys.readouterr().err
    assert main(["submit", "examples/cpu-sysbench.yaml", "-n", "2", "--baseline", "latest"]) == 2
    assert "not a burst" in capsys.readouterr().err


def test_a_burst_matches_once_per_distinct_requirements(monkeypatch):
    from benchfarm.scheduler import matching

    calls = []
    real = matching.match_hosts

    def counting(spec, hosts):
        calls.append(spec.name)
        return real(spec, hosts)

    monkeypatch.setattr(matching, "match_hosts", counting)
    rig = _rig()
    other = load_spec_data({"name": "big", "image": "img", "resources": {"memory": "1g"}})
    jobs = rig.service.submit_many([*_specs(4), other, *_specs(2)])
    assert len(jobs) == 7 and calls == ["b0", "big"]
    assert {j.queue for j in jobs} == {"pool.default"}


def test_the_host_registry_parses_a_record_again_only_when_it_changed(monkeypatch):
    kv = MemoryKV()
    registry = HostRegistry(kv)
    registry.register(HostCapabilities(host_id="a", cpu_count=2, memory_bytes=1 << 30))
    registry.register(HostCapabilities(host_id="b", cpu_count=4, memory_bytes=1 << 30))
    parsed = []
    real = HostCapabilities.model_validate_json

    def counting(raw, *args, **kwargs):
        parsed.append(raw)
        return real(raw, *args, **kwargs)

    monkeypatch.setattr(HostCapabilities, "model_validate_json", counting)
    assert [h.host_id for h in registry.hosts()] == ["a", "b"] and len(parsed) == 2
    first = registry.hosts()
    first[0].status = "quarantined"  # a caller's change stays its own
    assert len(parsed) == 2 and registry.hosts()[0].status == "good"
    registry.set_status("b", "quarantined")
    assert [h.status for h in registry.hosts()] == ["good", "quarantined"]
    registry.retire("a")
    assert [h.host_id for h in registry.hosts()] == ["b"]
    assert [row["host_id"] for row in registry.describe()] == ["b"]


def test_a_job_naming_a_pool_is_matched_against_that_pools_hosts_and_refused_with_every_hosts_reasons():
    rig = _rig()
    registry = HostRegistry(rig.kv)
    registry.register(HostCapabilities(host_id="p1", pool="gold", cpu_count=2, memory_bytes=1 << 30))
    registry.register(HostCapabilities(host_id="p2", pool="gold", cpu_count=2, memory_bytes=1 << 30,
                                       status="quarantined"))
    job = rig.service.submit(load_spec_data({"name": "g", "image": "img", "requirements": {"pool": "gold"}}))
    assert job.queue == "pool.gold"
    with pytest.raises(UnsatisfiableJobError) as err:
        rig.service.submit(load_spec_data({"name": "s", "image": "img", "requirements": {"pool": "silver"}}))
    assert "silver" in err.value.message


def test_a_claim_writes_the_record_and_its_started_event_in_one_transaction():
    rig = _rig()
    seen = []
    rig.repo.listeners.append(seen.append)
    job = rig.service.submit(_specs(1)[0])
    writes = []
    real = rig.kv.transact_logged

    def counting(key, seq_key, mutate):
        writes.append(key)
        return real(key, seq_key, mutate)

    rig.kv.transact_logged = counting
    claimed = rig.repo.claim(job.id, "w:1", "h1", lease_s=30, max_attempts=2)
    assert claimed is not None and claimed.status == JobStatus.RUNNING and writes == [f"benchfarm:job:{job.id}"]
    assert [(e.seq, e.type) for e in rig.repo.events(job.id)] == [
        (1, EventType.SUBMITTED), (2, EventType.QUEUED), (3, EventType.STARTED)]
    assert seen[-1].type == EventType.STARTED and seen[-1].data["attempt"] == 1
    assert rig.repo.claim(job.id, "w:2", "h1", lease_s=30, max_attempts=2) is None  # leased: nothing written
    assert len(rig.repo.events(job.id)) == 3
    assert rig.repo.emit(job.id, EventType.WARNING).seq == 4  # a plain emit follows on
