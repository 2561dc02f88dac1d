"""Collectors and store under faults, on the real farm: Elasticsearch stopped mid-job, the sampler
dying mid-job, and a CPU benchmark's samples showing the job's cpuset saturated."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from benchfarm.adapters.docker_engine import ContainerEngine
from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.adapters.redis_store import RedisKV
from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.execution.executor import ExecutorConfig, JobExecutor
from benchfarm.jobs.model import JobRecord, JobStatus
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.spec.loader import load_spec_data
from tests.integration.jobs_support import busybox_spec, dump, wait_final, wait_status

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(farm, settings) -> ApiClient:
    return ApiClient.from_settings(settings)


def _metrics_count(settings, job_id: str) -> int:
    es = EsClient.from_settings(settings)
    try:
        es.refresh(f"{settings.index_prefix}-metrics")
        return es.count(f"{settings.index_prefix}-metrics", {"term": {"job_id": job_id}})
    finally:
        es.close()


def _wait_count(settings, job_id: str, expected: int, timeout_s: float = 90) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            n = _metrics_count(settings, job_id)
        except Exception:
            n = -1
        if n == expected or time.monotonic() > deadline:
            return n
        time.sleep(1)


def test_elasticsearch_stopped_mid_job_every_sample_arrives_exactly_once(api, farm, settings, busybox_image):
    es = farm.service("elasticsearch")
    job_id = api.submit(busybox_spec(busybox_image, "i=0; while [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done; "
                                     "echo '{\"value\": 1}'", timeout_s=180))["id"]
    wait_status(api, job_id, "running")
    time.sleep(3)
    try:
        assert es.down() is True
        time.sleep(4)  # samples taken now cannot reach Elasticsearch: they are spooled
    finally:
        es.up(lambda m: None)
    job = wait_final(api, job_id, timeout_s=180)
    assert job["status"] == "succeeded", dump(job)
    taken = sum(r["samples_taken"] or 0 for r in job["repetitions"])
    assert taken >= 20
    assert _wait_count(settings, job_id, taken) == taken  # the spool replayed: all of them
    time.sleep(12)  # another replay cycle of the worker's housekeeping: still exactly once
    assert _metrics_count(settings, job_id) == taken


def test_a_cpu_benchmark_saturates_its_cpuset_in_the_samples(api, settings, farm, catalogue_image):
    spec = {"name": "cpu-saturation", "image": catalogue_image("sysbench"),
            "env": {"SYSBENCH_THREADS": "1", "SYSBENCH_TIME": "4"}, "warmup": 0, "repetitions": 1,
            "resources": {"cpuset": "1"}, "timeout_s": 120,
            "results": {"format": "json-lines", "metrics": {"events_per_second": {"unit": "events/s"}}}}
    job = wait_final(api, api.submit(spec)["id"])
    assert job["status"] == "succeeded", dump(job)
    es = EsClient.from_settings(settings)
    index = f"{settings.index_prefix}-metrics"
    assert _wait_count(settings, job["id"], job["repetitions"][0]["samples_taken"]) > 0
    res = es.search(index, {"size": 0, "query": {"bool": {"filter": [
        {"term": {"job_id": job["id"]}}, {"term": {"collector": "host"}}]}},
        "aggs": {"p50": {"percentiles": {"field": "m.cpuset_util_pct", "percents": [50]}}}})
    assert res["aggregations"]["p50"]["values"]["50.0"] > 90  # CPU 1 busy while sysbench ran on it
    res = es.search(index, {"size": 0, "query": {"bool": {"filter": [
        {"term": {"job_id": job["id"]}}, {"term": {"collector": "cgroup"}}]}},
        "aggs": {"cpu": {"max": {"field": "m.cpu_usage_seconds"}}}})
    assert res["aggregations"]["cpu"]["value"] > 3  # the container used ~4 s of CPU
    es.refresh(f"{settings.index_prefix}-results")
    results = es.search(f"{settings.index_prefix}-results", {"query": {"term": {"job_id": job["id"]}}})
    docs = {h["_source"]["doc_type"]: h["_source"] for h in results["hits"]["hits"]}
    es.close()
    assert docs["repetition"]["image_digest"] == job["image_digest"]
    # a catalogue image: its ancestors (base chain) travel into every result document
    import json as _json

    labels = job["image_provenance"]["labels"]
    assert docs["repetition"]["image_ancestors"] == _json.loads(labels["benchfarm.ancestors"])
    assert len(docs["repetition"]["image_ancestors"]) >= 1
    assert docs["repetition"]["provenance"]["kernel"]
    assert docs["summary"]["m"]["events_per_second"] > 0


def test_sampler_dying_mid_job_the_job_finishes_and_says_metrics_are_partial(farm, settings, busybox_image,
                                                                            docker_client, tmp_path: Path):
    repo = JobRepository(RedisKV.from_settings(settings))
    start_sampler = Farm(settings).telemetry
    sessions = []

    def telemetry(job, rep, container_id, cpuset):
        session = start_sampler(job, rep, container_id, cpuset)
        sessions.append(session)
        # the sampler dies one second into the run
        threading.Timer(1.0, session.sampler.abort).start()
        return session

    caps = HostCapabilities(host_id=settings.minion_id, cpu_count=2, memory_bytes=1 << 30)
    executor = JobExecutor(repo, ContainerEngine.from_settings(settings), caps,
                           ExecutorConfig(worker_id="test", lock_dir=tmp_path / "locks",
                                          results_root=tmp_path / "results"), telemetry=telemetry)
    spec = load_spec_data(busybox_spec(busybox_image, "sleep 3; echo '{\"value\": 2}'"))
    job = repo.create(JobRecord(id=f"job-test-{uuid.uuid4().hex[:8]}", spec=spec.model_dump(mode="json"),
                                image_ref=spec.image, image_digest=docker_client.images.get(busybox_image).id,
                                status=JobStatus.QUEUED))
    final = executor.execute(job.id)
    assert final.status == JobStatus.SUCCEEDED, final.reason
    assert final.repetitions[0].metrics == {"value": 2.0}
    assert final.metrics_partial is True
    assert sessions and not sessions[0].sampler.alive
