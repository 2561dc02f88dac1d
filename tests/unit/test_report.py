"""The HTML report from a job record and sample hits (pure rendering; the real-job test is in integration)."""

from __future__ import annotations

import re
import statistics
from datetime import UTC, datetime, timedelta

from benchfarm.analysis.compare import compare_jobs
from benchfarm.report.data import JobCost, JobData, fetch, group_samples
from benchfarm.report.html import comparison_section, fmt, page

T0 = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)


def _record(job_id: str, eps: list[float]) -> dict:
    reps = [{"index": 0, "warmup": True, "metrics": {"events_per_second": 1.0},
             "started_at": T0.isoformat(), "finished_at": (T0 + timedelta(seconds=2)).isoformat()}]
    for i, v in enumerate(eps, start=1):
        start = T0 + timedelta(seconds=3 * i)
        reps.append({"index": i, "warmup": False, "metrics": {"events_per_second": v, "latency_avg_ms": 1000 / v},
                     "started_at": start.isoformat(), "finished_at": (start + timedelta(seconds=2)).isoformat()})
    return {"id": job_id, "status": "succeeded", "image_ref": "benchfarm/sysbench:latest",
            "image_digest": "sha256:abc", "host_id": "vm", "queue": "pool.default", "labels": {"git_ref": "r1"},
            "submitted_at": T0.isoformat(), "started_at": T0.isoformat(),
            "finished_at": (T0 + timedelta(seconds=12)).isoformat(), "repetitions": reps, "warnings": [],
            "spec": {"name": "cpu", "results": {"metrics": {"events_per_second": {"unit": "events/s",
                                                                                  "direction": "higher"},
                                                            "latency_avg_ms": {"unit": "ms",
                                                                               "direction": "lower"}}}}}


def _hits() -> list[dict]:
    hits = []
    for s in range(12):
        ts = (T0 + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")
        hits.append({"_source": {"@timestamp": ts, "collector": "host",
                                 "m": {"cpuset_util_pct": 99.0, "cpu_util_pct": 50.0, "mem_used_bytes": 1e9}}})
        hits.append({"_source": {"@timestamp": ts, "collector": "cgroup",
                                 "m": {"cpu_util_pct": 98.0, "memory_usage_bytes": 3e6,
                                       "io_read_bytes_per_s": 0.0, "io_write_bytes_per_s": 10.0}}})
    return hits


def _job(job_id: str = "job-a", eps: list[float] | None = None) -> JobData:
    record = _record(job_id, eps or [1000.0, 1010.0, 990.0])
    return JobData(record, group_samples(_hits(), T0.timestamp()), 24)


def test_samples_are_grouped_by_collector_and_field_relative_to_the_start():
    grouped = group_samples(_hits(), T0.timestamp())
    assert grouped["host"]["cpuset_util_pct"].t == [float(s) for s in range(12)]
    assert grouped["cgroup"]["memory_usage_bytes"].v == [3e6] * 12


def test_page_has_timelines_distributions_and_the_numbers_of_measured_repetitions():
    job = _job()
    text = page([job])
    imgs = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,[A-Za-z0-9+/=]+"', text)
    assert {"CPU timeline", "Memory timeline", "I/O timeline"} <= set(imgs)
    assert "GPU timeline" not in imgs  # no GPU samples
    assert {"distribution of events_per_second", "distribution of latency_avg_ms"} <= set(imgs)
    assert fmt(statistics.median([1000.0, 1010.0, 990.0])) in text  # the median, warm-up excluded
    assert '<td class="num">1000, 1010, 990</td>' in text  # every measured repetition, in order
    assert "3 measured, 1 warm-up" in text and "sha256:abc" in text and "git_ref=r1" in text
    assert "<script" not in text and "http://" not in text and "https://" not in text  # self-contained


class _Api:
    def job(self, job_id: str) -> dict:
        return _record(job_id, [1000.0])


class _Es:
    """Answers the pool events scan with two attempts' cost shares and the samples scan with nothing."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict]] = []

    def scan(self, index, query, *, sort=None, source=None):
        self.asked.append((index, query))
        if index != "bf-pool-events":
            return iter([])
        return iter([{"_source": {"cost": 0.01, "host_hours": 0.004, "pool": "cpu-a"}},
                     {"_source": {"cost": 0.02, "host_hours": 0.006, "pool": "cpu-a"}}])


def test_a_job_on_an_elastic_pool_shows_what_it_cost():
    es = _Es()
    job = fetch("job-a", _Api(), es, "bf-metrics", "bf-pool-events")
    assert job.cost == JobCost(cost=0.03, host_hours=0.01, pools=("cpu-a",))
    assert es.asked[-1][1] == {"bool": {"filter": [{"term": {"kind": "job-cost"}}, {"term": {"job_id": "job-a"}}]}}
    assert "<th>cost</th><td>0.03 USD: 0.01 host-hours of pool cpu-a at its price</td>" in page([job])
    assert "<th>cost</th>" not in page([_job()])  # no cost recorded: no row


def test_page_escapes_what_comes_from_the_job():
    job = _job()
    job.record["reason"] = "<b>boom</b>"
    job.record["status"] = "failed"
    assert "&lt;b&gt;boom&lt;/b&gt;" in page([job])


def test_comparison_section_renders_the_verdict_table_and_plots():
    base, cand = _job("job-base", [1000.0, 1001.0, 999.0, 1000.5, 1000.2]), \
        _job("job-cand", [800.0, 801.0, 799.0, 800.5, 800.2])
    comparison = compare_jobs(base.metric_values(), cand.metric_values(),
                              cand.record["spec"]["results"]["metrics"], 5.0)
    html = comparison_section(base, cand, comparison)
    assert "job-base" in html and "job-cand" in html
    assert "regressed" in html
    assert html.count('alt="comparison of') == 2
    full = page([base, cand], [html])
    assert full.index("job-cand") < full.index("Comparison:")


def _served(job) -> JobData:
    """A JobRecord as the report receives it: the API's JSON of the record, no samples."""
    import json

    return JobData(json.loads(job.model_dump_json()))


def test_a_job_record_with_one_warm_up_reads_1_warm_up():
    from benchfarm.jobs.model import JobRecord, RepetitionRecord

    reps = [RepetitionRecord(index=0, warmup=True, exit_code=0, metrics={"value": 9.0}),
            RepetitionRecord(index=1, exit_code=0, metrics={"value": 1.0}),
            RepetitionRecord(index=2, exit_code=0, metrics={"value": 2.0})]
    job = JobRecord(id="job-w", spec={"name": "w", "warmup": 1, "repetitions": 2}, status="succeeded",
                    started_at=T0, repetitions=reps)
    text = page([_served(job)])
    assert "2 measured, 1 warm-up" in text
    assert '<td class="num">1, 2</td>' in text  # the warm-up's 9 is not a measured value


def test_a_job_that_failed_in_its_warm_up_reads_0_measured_1_warm_up():
    from benchfarm.jobs.model import JobRecord, RepetitionRecord

    job = JobRecord(id="job-f", spec={"name": "f", "warmup": 1, "repetitions": 2}, status="failed",
                    reason="exit code 3", repetitions=[RepetitionRecord(index=0, warmup=True, exit_code=3)])
    assert "0 measured, 1 warm-up" in page([_served(job)])
