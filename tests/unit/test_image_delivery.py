"""Images reach other hosts by digest: pushed to the farm registry at submit when another host may run the job,
pulled and checked by that host's executor; a retired host takes no job."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from benchfarm.clock import FakeClock
from benchfarm.errors import RegistryError
from benchfarm.execution.executor import ExecutorConfig, JobExecutor
from benchfarm.images.registry import RegistryPublisher, registry_pull_ref
from benchfarm.jobs.model import JobRecord, JobStatus
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.scheduler.service import JobService
from benchfarm.spec.loader import load_spec_data
from benchfarm.spec.model import JobSpec
from tests.support.fake_engine import Behaviour, FakeEngine
from tests.support.memory_kv import MemoryKV

REGISTRY = "127.0.0.1:15000"
IMAGE_ID = "sha256:" + "ab" * 32
MANIFEST = "sha256:" + "cd" * 32


def _image(tags: list[str], repo_digests: list[str] | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=IMAGE_ID, tags=tags, repo_digests=repo_digests or [], labels={}, created="")


class FakeDocker:
    """The registry calls of ``DockerImages``, recorded."""

    def __init__(self, served: set[str] | None = None) -> None:
        self.tagged: list[tuple[str, str, str]] = []
        self.pushed: list[tuple[str, str]] = []
        self.served = served  # references the registry serves (None: all)

    def in_registry(self, ref: str) -> bool:
        return self.served is None or ref in self.served

    def get(self, ref: str) -> Any:
        return _image([ref])

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        self.tagged.append((image_id, repository, tag))

    def push(self, repository: str, tag: str, progress: Any = None) -> str:
        self.pushed.append((repository, tag))
        return MANIFEST

    def pull(self, ref: str) -> str:
        raise AssertionError("publishing never pulls")


def test_a_registry_record_the_registry_no_longer_serves_is_pushed_again() -> None:
    docker = FakeDocker(served=set())  # the engine remembers a push to a registry since wiped
    stale = f"{REGISTRY}/benchfarm/sysbench@sha256:{'1' * 64}"
    image = _image(["benchfarm/sysbench:1.0"], [stale])
    assert RegistryPublisher(docker, REGISTRY).pull_ref("benchfarm/sysbench:1.0", image) == \
        f"{REGISTRY}/benchfarm/sysbench@{MANIFEST}"
    assert docker.pushed == [(f"{REGISTRY}/benchfarm/sysbench", "1.0")]


def test_an_image_already_in_the_registry_is_not_pushed_again() -> None:
    docker = FakeDocker()
    known = f"{REGISTRY}/benchfarm/sysbench@{MANIFEST}"
    image = _image(["benchfarm/sysbench:1.0"], [f"other.example/x@{MANIFEST}", known])
    assert registry_pull_ref(image, REGISTRY) == known
    assert RegistryPublisher(docker, REGISTRY).pull_ref("benchfarm/sysbench:1.0", image) == known
    assert docker.pushed == []


@pytest.mark.parametrize(("ref", "tags", "pushed_as"), [
    ("benchfarm-test/busybox:latest", ["benchfarm-test/busybox:latest"], ("benchfarm-test/busybox", "latest")),
    (IMAGE_ID, ["bench/x:2"], ("bench/x", "2")),                     # submitted by id: the image's own tag
    ("bench/x@sha256:" + "ef" * 32, ["bench/x:3"], ("bench/x", "3")),  # a digest of another registry
    (f"{REGISTRY}/bench/y:4", [f"{REGISTRY}/bench/y:4"], ("bench/y", "4")),  # already named for the registry
])
def test_a_local_image_is_pushed_under_its_name_and_tag(ref: str, tags: list[str],
                                                        pushed_as: tuple[str, str]) -> None:
    docker = FakeDocker()
    pull_ref = RegistryPublisher(docker, REGISTRY).pull_ref(ref, _image(tags))
    repository = f"{REGISTRY}/{pushed_as[0]}"
    assert docker.tagged == [(IMAGE_ID, repository, pushed_as[1])]
    assert docker.pushed == [(repository, pushed_as[1])]
    assert pull_ref == f"{repository}@{MANIFEST}"


def test_an_untagged_image_cannot_be_published() -> None:
    with pytest.raises(RegistryError, match="no tag"):
        RegistryPublisher(FakeDocker(), REGISTRY).pull_ref(IMAGE_ID, _image([]))


class Publisher:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def pull_ref(self, ref: str, image: Any) -> str:
        self.asked.append(ref)
        return f"{REGISTRY}/x@{MANIFEST}"


class Images:
    def resolve_image(self, ref: str) -> Any:
        return _image([ref])


class Dispatcher:
    def enqueue(self, job_id: str, queue: str, priority: int) -> str:
        return job_id


def _service(*hosts: tuple[str, str]) -> tuple[JobService, Publisher]:
    registry = HostRegistry(MemoryKV())
    for host_id, pool in hosts:
        registry.register(HostCapabilities(host_id=host_id, pool=pool, cpu_count=1, memory_bytes=1 << 30))
        registry.worker_heartbeat(host_id)
    publisher = Publisher()
    service = JobService(JobRepository(MemoryKV()), registry, Images(), Dispatcher(), publisher=publisher,
                         local_host="the-host")
    return service, publisher


def test_a_job_another_host_may_run_records_where_to_pull_its_image() -> None:
    service, publisher = _service(("the-host", "default"), ("node-a", "nodes-a"))
    job = service.submit(load_spec_data({"name": "j", "image": "bench/x:1", "requirements": {"pool": "nodes-a"}}))
    assert publisher.asked == ["bench/x:1"]
    assert job.image_pull_ref == f"{REGISTRY}/x@{MANIFEST}" and job.image_digest == IMAGE_ID


def test_a_job_only_this_machine_may_run_is_not_pushed() -> None:
    service, publisher = _service(("the-host", "default"), ("node-a", "nodes-a"))
    job = service.submit(load_spec_data({"name": "j", "image": "bench/x:1", "requirements": {"pool": "default"}}))
    assert publisher.asked == [] and job.image_pull_ref is None


def test_a_retired_host_matches_no_job_and_looks_dead() -> None:
    registry = HostRegistry(MemoryKV())
    registry.register(HostCapabilities(host_id="node-a", pool="nodes-a", cpu_count=1, memory_bytes=1 << 30))
    registry.worker_heartbeat("node-a")
    assert registry.retire("node-a") is True
    assert registry.hosts() == [] and "node-a" not in registry.workers_seen()
    assert registry.get("node-a").status == "retired"  # the record stays for the jobs that ran there
    assert registry.retire("node-a") is False and registry.retire("never-there") is False
    service = JobService(JobRepository(MemoryKV()), registry, Images(), Dispatcher())
    with pytest.raises(Exception, match="no registered host"):
        service.submit(load_spec_data({"name": "j", "image": "i", "requirements": {"pool": "nodes-a"}}))


def _executor(tmp_path: Path, pull_ref: str | None) -> tuple[JobExecutor, FakeEngine, JobRepository]:
    clock = FakeClock()
    engine = FakeEngine(clock, Behaviour(stdout=b'{"v": 1}\n'))
    repo = JobRepository(MemoryKV())
    spec = JobSpec.model_validate({"name": "noop", "image": "bench/x:1"})
    repo.create(JobRecord(id="job-1", spec=spec.model_dump(), status=JobStatus.QUEUED, image_ref="bench/x:1",
                          image_digest=IMAGE_ID, image_pull_ref=pull_ref, queue="pool.nodes-a",
                          submitted_at=clock.utcnow()))
    executor = JobExecutor(repo, engine, HostCapabilities(host_id="node-a", cpu_count=1),
                           ExecutorConfig(worker_id="w", lock_dir=tmp_path / "locks", results_root=tmp_path / "r"),
                           clock=clock)
    return executor, engine, repo


def test_a_host_without_the_image_pulls_it_by_digest_and_runs_the_pinned_id(tmp_path: Path) -> None:
    pull_ref = f"{REGISTRY}/bench/x@{MANIFEST}"
    executor, engine, _ = _executor(tmp_path, pull_ref)
    engine.missing_images = {IMAGE_ID}
    engine.registry = {pull_ref: IMAGE_ID}
    job = executor.execute("job-1")
    assert job is not None and job.status == JobStatus.SUCCEEDED, job and job.reason
    assert engine.pulled == [pull_ref]
    assert engine.created and job.repetitions[0].metrics == {"v": 1.0}


def test_a_host_with_the_image_pulls_nothing(tmp_path: Path) -> None:
    executor, engine, _ = _executor(tmp_path, f"{REGISTRY}/bench/x@{MANIFEST}")
    job = executor.execute("job-1")
    assert job is not None and job.status == JobStatus.SUCCEEDED and engine.pulled == []


@pytest.mark.parametrize(("pull_ref", "registry", "reason"), [
    (None, {}, "names no registry reference"),
    (f"{REGISTRY}/bench/x@{MANIFEST}", {}, "manifest unknown"),
    (f"{REGISTRY}/bench/x@{MANIFEST}", {f"{REGISTRY}/bench/x@{MANIFEST}": "sha256:" + "00" * 32}, "not sha256:abab"),
])
def test_an_image_that_cannot_be_had_fails_the_job_with_the_reason(tmp_path: Path, pull_ref: str | None,
                                                                   registry: dict[str, str], reason: str) -> None:
    executor, engine, _ = _executor(tmp_path, pull_ref)
    engine.missing_images = {IMAGE_ID}
    engine.registry = registry
    job = executor.execute("job-1")
    assert job is not None and job.status == JobStatus.FAILED
    assert reason in (job.reason or ""), job.reason
    assert engine.created == []


def test_a_job_naming_no_pool_goes_to_the_default_pool_before_a_node_that_sorts_first() -> None:
    service, _ = _service(("a-node", "nodes-a"), ("the-host", "default"))
    job = service.submit(load_spec_data({"name": "j", "image": "bench/x:1"}))
    assert job.queue == "pool.default"


def test_a_job_naming_no_pool_goes_to_another_pool_when_the_default_pool_has_no_live_host() -> None:
    service, _ = _service(("a-node", "nodes-a"))
    job = service.submit(load_spec_data({"name": "j", "image": "bench/x:1"}))
    assert job.queue == "pool.nodes-a"
