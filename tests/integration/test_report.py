"""`benchfarm report` on a real job: the page has its plots and its numbers."""

from __future__ import annotations

import re
import statistics
import time
import uuid

import pytest

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.client import ApiClient
from benchfarm.report.html import fmt
from tests.integration.jobs_support import cli, dump, wait_final

pytestmark = pytest.mark.integration


def test_report_of_a_real_job_has_timelines_distributions_and_its_numbers(farm, settings, catalogue_image, tmp_path):
    api = ApiClient.from_settings(settings)
    spec = {"name": f"report-{uuid.uuid4().hex[:8]}", "image": catalogue_image("sysbench"),
            "env": {"SYSBENCH_THREADS": "1", "SYSBENCH_TIME": "3"}, "warmup": 0, "repetitions": 2,
            "resources": {"cpuset": "1"}, "timeout_s": 120,
            "results": {"format": "json-lines", "metrics": {"events_per_second": {"unit": "events/s"}}}}
    job = wait_final(api, api.submit(spec)["id"], timeout_s=300)
    assert job["status"] == "succeeded", dump(job)
    taken = sum(r["samples_taken"] or 0 for r in job["repetitions"])
    es = EsClient.from_settings(settings)
    index = f"{settings.index_prefix}-metrics"
    deadline = time.monotonic() + 90
    while True:
        es.refresh(index)
        if es.count(index, {"term": {"job_id": job["id"]}}) == taken or time.monotonic() > deadline:
            break
        time.sleep(1)
    es.close()

    out = tmp_path / "report.html"
    res = cli("report", job["id"], "-o", str(out))
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    imgs = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', text)
    assert {"CPU timeline", "Memory timeline", "I/O timeline", "distribution of events_per_second"} <= set(imgs)
    values = [r["metrics"]["events_per_second"] for r in job["repetitions"] if not r["warmup"]]
    assert fmt(statistics.median(values)) in text
    assert all(fmt(v) in text for v in values)
    assert f"{taken} collector samples" in text and job["image_digest"] in text


def test_report_of_an_unknown_job_fails_clearly(farm, tmp_path):
    res = cli("report", "job-does-not-exist", "-o", str(tmp_path / "r.html"))
    assert res.returncode == 2 and "error" in res.stderr
    assert not (tmp_path / "r.html").exists()
