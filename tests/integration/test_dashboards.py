"""Every dashboard panel's query, run against the real Elasticsearch on the data of a real job.

A sysbench job (one thread pinned to CPU 1, three measured repetitions, a unique spec name and
git_ref label) runs on the one-host farm; then each query file under dashboards/queries/ is filled
with that job's id and time range and searched, and the buckets are checked against the job record.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from datetime import datetime, timedelta

import pytest

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.cli.main import main
from benchfarm.client import ApiClient
from benchfarm.dashboards.panels import PANELS, panel
from benchfarm.dashboards.queries import panel_request
from tests.integration.history_support import STEP_AT, planted_history
from tests.integration.jobs_support import dump, wait_final

pytestmark = pytest.mark.integration


def _iso(ts: datetime) -> str:
    return ts.isoformat()


def _poll(fn, timeout_s: float = 90):
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(1)


@pytest.fixture(scope="module")
def es(farm, settings):
    client = EsClient.from_settings(settings)
    yield client
    client.close()


@pytest.fixture(scope="module")
def job(farm, settings, catalogue_image, es):
    """A finished sysbench job whose samples, results and job document are all in Elasticsearch."""
    api = ApiClient.from_settings(settings)
    tag = uuid.uuid4().hex[:8]
    spec = {"name": f"dash-{tag}", "image": catalogue_image("sysbench"),
            "env": {"SYSBENCH_THREADS": "1", "SYSBENCH_TIME": "3"}, "warmup": 0, "repetitions": 3,
            "resources": {"cpuset": "1"}, "timeout_s": 120, "labels": {"git_ref": f"ref-{tag}"},
            "results": {"format": "json-lines", "metrics": {"events_per_second": {"unit": "events/s"}}}}
    record = wait_final(api, api.submit(spec)["id"], timeout_s=300)
    assert record["status"] == "succeeded", dump(record)
    prefix = settings.index_prefix
    taken = sum(r["samples_taken"] or 0 for r in record["repetitions"])

    def stored() -> bool:
        for kind in ("metrics", "results", "jobs"):
            es.refresh(f"{prefix}-{kind}")
        samples = es.count(f"{prefix}-metrics", {"term": {"job_id": record["id"]}})
        reps = es.count(f"{prefix}-results", {"term": {"job_id": record["id"]}})
        doc = es.get(f"{prefix}-jobs", record["id"]) or {}
        return samples == taken and reps == 4 and doc.get("status") == "succeeded"

    assert _poll(stored), "the job's samples, results and final job document did not all reach Elasticsearch"
    return record


def _window(job) -> dict[str, str]:
    start = datetime.fromisoformat(job["submitted_at"]) - timedelta(seconds=5)
    end = datetime.fromisoformat(job["finished_at"]) + timedelta(seconds=30)
    return {"from": _iso(start), "to": _iso(end)}


def _search(es, settings, panel_id: str, **params):
    index, body = panel_request(panel(panel_id), settings.index_prefix, **params)
    return es.search(index, body)


def test_cpu_timeline_shows_the_cpuset_saturated_during_the_job(es, settings, job):
    res = _search(es, settings, "job-cpu-host", job_id=job["id"], interval="1s", **_window(job))
    buckets = res["aggregations"]["time"]["buckets"]
    assert len(buckets) >= 6  # three 3-second runs sampled at 1 Hz
    start = datetime.fromisoformat(job["started_at"]).timestamp() * 1000 - 1000
    end = datetime.fromisoformat(job["finished_at"]).timestamp() * 1000 + 1000
    assert all(start <= b["key"] <= end for b in buckets)
    assert max(b["max_m.cpuset_util_pct"]["value"] for b in buckets) > 90
    assert statistics.median(b["max_m.cpuset_util_pct"]["value"] for b in buckets) > 90


def test_container_panels_have_one_bucket_per_cgroup_sample_second(es, settings, job):
    prefix = settings.index_prefix
    cgroup = es.count(f"{prefix}-metrics", {"bool": {"filter": [{"term": {"job_id": job["id"]}},
                                                               {"term": {"collector": "cgroup"}}]}})
    assert cgroup > 0
    cpu = _search(es, settings, "job-cpu-container", job_id=job["id"], interval="1s", **_window(job))
    mem = _search(es, settings, "job-memory", job_id=job["id"], interval="1s", **_window(job))
    io = _search(es, settings, "job-io", job_id=job["id"], interval="1s", **_window(job))
    for res in (cpu, mem, io):
        assert res["hits"]["total"]["value"] == cgroup
        assert sum(b["doc_count"] for b in res["aggregations"]["time"]["buckets"]) == cgroup
    assert max(b["max_m.cpu_util_pct"]["value"] for b in cpu["aggregations"]["time"]["buckets"]) > 90
    assert min(b["max_m.memory_usage_bytes"]["value"] for b in mem["aggregations"]["time"]["buckets"]) > 0
    assert all(b["max_m.io_read_bytes_per_s"]["value"] >= 0 for b in io["aggregations"]["time"]["buckets"])


def test_gpu_panel_matches_the_gpu_samples_stored(es, settings, job):
    gpu = es.count(f"{settings.index_prefix}-metrics", {"bool": {"filter": [
        {"term": {"job_id": job["id"]}}, {"term": {"collector": "gpu"}}]}})
    res = _search(es, settings, "job-gpu", job_id=job["id"], interval="1s", **_window(job))
    assert res["hits"]["total"]["value"] == gpu  # 0 on a host without an NVIDIA GPU
    assert sum(b["doc_count"] for b in res["aggregations"]["time"]["buckets"]) == gpu


def test_farm_panel_counts_the_job_under_its_pool_and_status(es, settings, job):
    at = job["submitted_at"]
    res = _search(es, settings, "farm-jobs-by-pool-status", interval="1m", **{"from": at, "to": at})
    (bucket,) = res["aggregations"]["time"]["buckets"]
    pools = {p["key"]: p for p in bucket["by_pool"]["buckets"]}
    statuses = {s["key"]: s["doc_count"] for s in pools["default"]["by_status"]["buckets"]}
    assert statuses == {"succeeded": 1}


def test_farm_host_utilisation_has_the_worker_host_during_the_job(es, settings, job):
    res = _search(es, settings, "farm-host-utilisation", interval="1s", **_window(job))
    hosts = {h["key"] for b in res["aggregations"]["time"]["buckets"] for h in b["by_host_id"]["buckets"]}
    assert job["host_id"] in hosts
    during = [h["avg_m.cpu_util_pct"]["value"] for b in res["aggregations"]["time"]["buckets"]
              for h in b["by_host_id"]["buckets"] if h["key"] == job["host_id"]]
    assert max(during) > 100 / (settings_cpus() + 1)  # one of the host's CPUs was busy


def settings_cpus() -> int:
    import os

    return os.cpu_count() or 1


@pytest.mark.parametrize("panel_id,field", [("trends-by-image", "image_digest"), ("trends-by-git-ref", "git_ref")])
def test_trends_median_equals_the_median_of_the_job_repetitions(es, settings, job, panel_id, field):
    expected = statistics.median(r["metrics"]["events_per_second"] for r in job["repetitions"] if not r["warmup"])
    key = job["image_digest"] if field == "image_digest" else job["spec"]["labels"]["git_ref"]
    res = _search(es, settings, panel_id, spec_name=job["spec"]["name"], metric="events_per_second", interval="1d",
                  **_window(job))
    (bucket,) = res["aggregations"][f"by_{field}"]["buckets"]
    assert bucket["key"] == key and bucket["doc_count"] == 3
    (day,) = bucket["time"]["buckets"]
    assert day["median_m.events_per_second"]["values"]["50.0"] == pytest.approx(expected, rel=1e-9)


def test_changepoints_panel_shows_the_change_history_stored(es, settings, capsys):
    """A planted step, stored by `benchfarm history --changes`, is one change in the panel's series bucket."""
    with planted_history(es, settings.index_prefix, "dash-history") as planted:
        assert main(["history", planted.spec, "ops_per_s", "--changes", "--json"]) == 0
        (change,) = json.loads(capsys.readouterr().out)["changes"]
        es.refresh(f"{settings.index_prefix}-changepoints")
        window = {"from": planted.at(0).isoformat(), "to": planted.at(len(planted.values)).isoformat()}
        res = _search(es, settings, "trends-changepoints", spec_name=planted.spec, interval="1h", **window)
        assert res["hits"]["total"]["value"] == 1
        (bucket,) = res["aggregations"]["time"]["buckets"]
        assert bucket["key"] == planted.at(STEP_AT).timestamp() * 1000
        (series,) = bucket["by_series"]["buckets"]
        assert series["key"] == change["series"] and series["doc_count"] == 1
        assert series["avg_magnitude"]["value"] == pytest.approx(change["magnitude"], rel=1e-9)
        other = _search(es, settings, "trends-changepoints", spec_name=planted.spec + "-other", interval="1h",
                        **window)
        assert other["hits"]["total"]["value"] == 0


def test_every_panel_has_a_test_here():
    # campaign-median-by-class runs on a real campaign's results in tests/integration/test_campaigns.py, the
    # costs-* panels on a real elastic pool node's life in tests/integration/test_elastic_pools.py
    tested = {"campaign-median-by-class", "costs-by-pool", "costs-by-job", "job-cpu-host", "job-cpu-container",
              "job-memory", "job-io", "job-gpu", "farm-jobs-by-pool-status", "farm-host-utilisation",
              "trends-by-image", "trends-by-git-ref", "trends-changepoints"}
    assert {p.id for p in PANELS} == tested
