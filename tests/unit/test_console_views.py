"""The web console's view helpers (formats, paging, progress, metric rows, charts) on plain data, and its pages
over the API app's in-memory fakes: sign-in, refusals, visibility, paging, the farm overview."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from benchfarm.access.tokens import Role
from benchfarm.api.console import views
from benchfarm.api.console.auth import COOKIE, safe_next
from benchfarm.inventory.pools import PoolStore
from benchfarm.jobs.model import JobRecord, JobStatus, RepetitionRecord
from tests.support.api_app import IMAGE, TOKEN, FakeFarm, fake_farm


# ------------------------------------------------------------------ formats
@pytest.mark.parametrize(("value", "shown"), [(None, "-"), (float("nan"), "-"), (40.0, "40"),
                                              (1234567.0, "1.23457e+06"), (0.000123456789, "0.000123457"), (3, "3")])
def test_fmt(value, shown):
    assert views.fmt(value) == shown


@pytest.mark.parametrize(("n", "shown"), [(None, "-"), (0, "-"), (512 << 20, "512 MiB"), (8 << 30, "8.0 GiB"),
                                          (25275990016, "23.5 GiB")])
def test_fmt_bytes(n, shown):
    assert views.fmt_bytes(n) == shown


@pytest.mark.parametrize(("s", "shown"), [(None, "-"), (2.414, "2.41 s"), (59.9, "59.9 s"), (185, "3 min 5 s")])
def test_fmt_seconds(s, shown):
    assert views.fmt_seconds(s) == shown


def test_fmt_time():
    assert views.fmt_time(datetime(2026, 12, 1, 11, 2, 3, 456, tzinfo=UTC)) == "2026-12-01 11:02:03Z"
    assert views.fmt_time("2026-12-01T11:02:03.123Z") == "2026-12-01 11:02:03Z"
    assert views.fmt_time("2026-12-01T12:02:03+01:00") == "2026-12-01 12:02:03+01:00"
    assert views.fmt_time("yesterday") == "yesterday"
    assert views.fmt_time(None) == views.fmt_time("") == "-"


# ------------------------------------------------------------------ paging
def test_paging_links_keep_the_filter_and_stop_at_the_ends():
    first = views.paging("/ui/jobs", 1, 25, True, {"status": "failed", "name": None})
    assert first.prev_url is None and first.offset == 0
    assert first.next_url == "/ui/jobs?status=failed&page=2&per_page=25"
    last = views.paging("/ui/jobs", 3, 25, False, {"status": None})
    assert last.next_url is None and last.prev_url == "/ui/jobs?page=2&per_page=25" and last.offset == 50


# ------------------------------------------------------------------ jobs
def _job(status: JobStatus = JobStatus.RUNNING, values: tuple[float, ...] = (), repetitions: int | None = 4,
         warmups: int = 0) -> JobRecord:
    spec = {"name": "b", "results": {"metrics": {"ops": {"unit": "op/s"}}}}
    if repetitions is not None:
        spec["repetitions"] = repetitions
    reps = [RepetitionRecord(index=i, warmup=True, metrics={"ops": 1.0}) for i in range(warmups)]
    reps += [RepetitionRecord(index=warmups + i, metrics={"ops": v}) for i, v in enumerate(values)]
    return JobRecord(id="job-1", spec=spec, status=status, repetitions=reps)


def test_progress_counts_measured_repetitions_only():
    p = views.progress(_job(values=(1.0,), warmups=2))
    assert (p.done, p.total, p.final, p.percent) == (1, 4, False, 25)
    assert views.progress(_job(JobStatus.SUCCEEDED, (1.0, 2.0))).percent == 100  # an adaptive job stopping early
    assert views.progress(_job(repetitions=None)).as_dict() == {"status": "running", "done": 0, "total": None,
                                                              "final": False, "percent": 0}
    assert views.progress(_job(JobStatus.FAILED, (1.0,))).percent == 25


def test_metric_rows_leave_warmups_out_and_carry_the_unit():
    (row,) = views.metric_rows(_job(values=(3.0, 1.0, 2.0, 10.0), warmups=1))
    assert (row.name, row.unit, row.n, row.median, row.low, row.high) == ("ops", "op/s", 4, 2.5, 1.0, 10.0)
    assert views.metric_rows(_job()) == []


# ------------------------------------------------------------------ charts
def test_the_console_draws_the_reports_panels_without_loading_matplotlib():
    import subprocess
    import sys

    code = ("import sys, benchfarm.api.console.views as v, benchfarm.report.plots as p; "
            "assert v.TIMELINES is p.TIMELINES; "
            "del sys.modules['benchfarm.report.plots']; "
            "[sys.modules.pop(m) for m in list(sys.modules) if m.startswith(('matplotlib', 'benchfarm'))]; "
            "import benchfarm.api.console.views; print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_timeline_charts_align_series_on_their_sample_times_and_scale_bytes():
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def at(s: float) -> str:
        return (t0 + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")

    docs = [{"@timestamp": at(0.5), "collector": "host", "m": {"cpu_util_pct": 50.0, "mem_used_bytes": 2 << 20}},
            {"@timestamp": at(1.0), "collector": "cgroup", "m": {"cpu_util_pct": 90.0, "memory_usage_bytes": 1 << 20}},
            {"@timestamp": at(1.5), "collector": "host", "m": {"cpu_util_pct": 60.0, "junk": None}}]
    charts = {c.title: c for c in views.timeline_charts(docs, t0)}
    assert set(charts) == {"CPU", "Memory"}
    cpu = charts["CPU"]
    assert cpu.legends == ["all CPUs (host)", "container (cgroup)"]
    assert cpu.x == [0.5, 1.0, 1.5] and cpu.ys == [[50.0, None, 60.0], [None, 90.0, None]]
    assert charts["Memory"].ys == [[None, 1.0], [2.0, None]]  # MiB
    assert cpu.as_dict()["data"] == [cpu.x, *cpu.ys]
    assert views.timeline_charts([], t0) == []


def test_history_and_distribution_charts():
    h = views.history_chart("s", [1.0, 1.0, 2.0], [2])
    assert h.as_dict()["data"] == [[0.0, 1.0, 2.0], [1.0, 1.0, 2.0]] and h.markers == [1.5]
    d = views.distribution_chart("ops", "op/s", [1.0, 2.0, 3.0], [4.0])
    assert d.x == [0.0, 1.0, 2.0] and d.ys == [[1.0, 2.0, 3.0], [4.0, None, None]]


@pytest.mark.parametrize(("given", "goes"), [("/ui/jobs?page=2", "/ui/jobs?page=2"), (None, "/ui"), ("", "/ui"),
                                             ("//evil.example/ui", "/ui"), ("https://evil.example", "/ui"),
                                             ("/docs", "/ui"), ("/ui\\..\\x", "/ui")])
def test_sign_in_only_returns_to_console_paths(given, goes):
    assert safe_next(given) == goes


# ------------------------------------------------------------------ pages over the fake farm
@pytest.fixture
def farm(tmp_path) -> FakeFarm:
    logging.getLogger("benchfarm.api.errors").setLevel(logging.CRITICAL)
    f = fake_farm(tmp_path)
    f.deps.pools = PoolStore(f.kv, f.deps.hosts)
    f.deps.queue_depths = lambda queues: dict.fromkeys(queues, 7)
    f.add_host("node-a", max_concurrent_jobs=2)
    return f


def _sign_in(f: FakeFarm, token: str = TOKEN) -> None:
    resp = f.client.post("/ui/login", data={"token": token, "next": "/ui"}, follow_redirects=False)
    assert resp.status_code == 303, resp.text


def _submit(f: FakeFarm, name: str = "b", token: str = TOKEN, visibility: str = "private") -> str:
    resp = f.client.post("/jobs", json={"name": name, "image": IMAGE, "command": ["true"]},
                         params={"visibility": visibility}, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def test_without_a_sign_in_every_page_redirects_to_the_sign_in_page(farm):
    for path in ("/ui", "/ui/jobs", "/ui/history", "/ui/campaigns", "/ui/jobs/job-1", "/ui/jobs/job-1/stream"):
        resp = farm.client.get(path, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/ui/login?next=/ui"), path


def test_a_bad_token_gets_the_sign_in_page_no_cookie_and_an_audit(farm):
    resp = farm.client.post("/ui/login", data={"token": "nope", "next": "/ui"}, follow_redirects=False)
    assert resp.status_code == 401 and 'id="login-error"' in resp.text and "node-a" not in resp.text
    assert farm.client.cookies.get(COOKIE) is None
    assert any(d["status"] == 401 and d["path"] == "/ui/login" for d in farm.audit_docs())
    farm.client.cookies.set(COOKIE, "forged", path="/ui")
    resp = farm.client.get("/ui", follow_redirects=False)
    assert resp.status_code == 303 and "/ui/login" in resp.headers["location"]


def test_the_internal_credential_cannot_sign_in(farm):
    from tests.support.api_app import INTERNAL_TOKEN

    resp = farm.client.post("/ui/login", data={"token": INTERNAL_TOKEN}, follow_redirects=False)
    assert resp.status_code == 403 and "node-a" not in resp.text


def test_the_cookie_is_http_only_strict_and_for_the_console_only(farm):
    resp = farm.client.post("/ui/login", data={"token": TOKEN, "next": "//evil.example"}, follow_redirects=False)
    cookie = resp.headers["set-cookie"]
    assert resp.headers["location"] == "/ui"
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert farm.client.get("/farm").status_code == 401  # the JSON API never takes the console's cookie


def test_the_farm_page_shows_the_overview(farm):
    _sign_in(farm)
    overview = farm.client.get("/farm", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert overview["pools"][0]["slots"] == 2 and overview["queues"] == [{"queue": "pool.default", "waiting": 7}]
    page = farm.client.get("/ui").text
    assert 'data-host="node-a"' in page and '<td class="num" data-field="waiting">7</td>' in page
    assert '<td class="num" data-field="slots">2</td>' in page and "autoscaler-none" in page


def test_the_jobs_list_pages_on_the_server(farm):
    ids = [_submit(farm) for _ in range(5)]
    _sign_in(farm)
    first = farm.client.get("/ui/jobs", params={"per_page": 2}).text
    second = farm.client.get("/ui/jobs", params={"per_page": 2, "page": 2}).text
    last = farm.client.get("/ui/jobs", params={"per_page": 2, "page": 3}).text
    newest = farm.deps.repo.page(0, 5)[0]
    assert {j.id for j in newest} == set(ids)
    order = [j.id for j in newest]
    assert all(f'data-job="{i}"' in first for i in order[:2]) and 'rel="next"' in first and 'rel="prev"' not in first
    assert all(f'data-job="{i}"' in second for i in order[2:4]) and 'rel="prev"' in second
    assert f'data-job="{order[4]}"' in last and 'rel="next"' not in last
    assert 'data-job="' not in farm.client.get("/ui/jobs", params={"status": "failed"}).text


def test_a_submitter_sees_its_team_and_public_jobs_only(farm):
    store = farm.deps.tokens
    alice, _ = store.create("alice", "team-a", Role.SUBMIT)
    bob, _ = store.create("bob", "team-b", Role.SUBMIT)
    private_a = _submit(farm, token=alice)
    public_a = _submit(farm, token=alice, visibility="public")
    _sign_in(farm, bob)
    listing = farm.client.get("/ui/jobs").text
    assert public_a in listing and private_a not in listing
    resp = farm.client.get(f"/ui/jobs/{private_a}")
    assert resp.status_code == 403 and 'id="error-message"' in resp.text and "team-a" in resp.text
    assert farm.client.get(f"/ui/jobs/{public_a}").status_code == 200


def test_the_job_page_shows_progress_repetitions_and_why_there_is_no_verdict(farm):
    job_id = _submit(farm)

    def ran(job: JobRecord) -> None:
        job.status = JobStatus.SUCCEEDED
        job.repetitions = [RepetitionRecord(index=0, exit_code=0, metrics={"ops": 5.0}, logs="hello <b>")]

    farm.deps.repo.update(job_id, ran)
    _sign_in(farm)
    page = farm.client.get(f"/ui/jobs/{job_id}").text
    assert 'id="job-status" class="status status-succeeded">succeeded' in page
    assert '<td class="num" data-field="median">5</td>' in page
    assert "hello &lt;b&gt;" in page  # logs are escaped
    assert 'id="no-verdict"' in page  # no baseline yet
    assert "samples" in page and "without the store reader" in page  # the fake farm has no Elasticsearch
    assert farm.client.get("/ui/jobs/job-none").status_code == 404


def test_an_unknown_console_path_is_an_html_404(farm):
    _sign_in(farm)
    resp = farm.client.get("/ui/nothing-here")
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("text/html")
    assert farm.client.get("/nothing-here").headers["content-type"] == "application/json"


def test_the_vendored_chart_library_is_served_by_the_api(farm):
    resp = farm.client.get("/ui/static/vendor/uplot/uPlot.iife.min.js")
    assert resp.status_code == 200 and b"uPlot" in resp.content[:2000]


class FakeStore:
    """The two reads the console makes of the store (StoreRepository.job_summaries and samples_for)."""

    def __init__(self, summaries: list[dict]) -> None:
        self.summaries = summaries

    def job_summaries(self, query: dict) -> list[dict]:
        return self.summaries

    def samples_for(self, job_id: str, collector: str | None = None, source: list[str] | None = None) -> list[dict]:
        return []


def test_the_history_page_and_route_show_the_same_series_and_change_point(farm):
    levels = [100.0] * 30 + [130.0] * 30
    farm.deps.store = FakeStore([{"job_id": f"job-{i:02d}", "@timestamp": f"2026-12-01T10:{i:02d}:00Z",
                                  "m": {"ops": v + (i % 3) * 0.1}} for i, v in enumerate(levels)])
    ids = [f"job-{i:02d}" for i in range(60)]
    body = farm.client.get("/history", params={"name": "b", "metric": "ops"},
                           headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert [p["job_id"] for p in body["points"]] == ids
    assert [(c["index"], c["job_before"], c["job_after"]) for c in body["changes"]] == [(30, "job-29", "job-30")]
    _sign_in(farm)
    page = farm.client.get("/ui/history", params={"name": "b", "metric": "ops"}).text
    assert '<span id="point-count">60</span>' in page and '<span id="change-count">1</span>' in page
    assert '<tr data-index="30" class="change">' in page and '<tr data-change="30">' in page
    assert farm.client.get("/history", params={"name": "b", "metric": "ops", "host": "a", "class": "c"},
                           headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 422


def test_the_campaign_pages_show_the_campaign_and_its_jobs(farm):
    spec = {"name": "b", "image": IMAGE, "command": ["true"], "env": {"N": "1"}}
    resp = farm.client.post("/campaigns", json={"spec": spec, "across": ["pool:default"], "matrix": {"N": ["1", "2"]}},
                            headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 202, resp.text
    campaign = resp.json()
    _sign_in(farm)
    listing = farm.client.get("/ui/campaigns").text
    assert f'data-campaign="{campaign["id"]}"' in listing and '<td class="num" data-field="jobs">2</td>' in listing
    page = farm.client.get(f"/ui/campaigns/{campaign['id']}").text
    assert all(f'data-job="{j["job_id"]}"' in page for j in campaign["jobs"]) and len(campaign["jobs"]) == 2
    assert 'id="no-comparison"' in page  # nothing succeeded yet
    farm.deps.campaigns = None
    assert 'id="campaigns-unavailable"' in farm.client.get("/ui/campaigns").text


def test_scaling_chart():
    chart = views.scaling_chart({"metric": "ops", "group": "a / x", "axis": "THREADS", "rest": "",
                                 "points": [{"x": 1, "median": 10.0, "ideal": 10.0},
                                            {"x": 2, "median": 18.0, "ideal": 20.0}]})
    assert chart.title == "ops of a / x over THREADS" and chart.as_dict()["data"] == [[1.0, 2.0], [10.0, 18.0],
                                                                                       [10.0, 20.0]]


# ------------------------------------------------------------------ the repository reads behind the pages
def test_a_page_by_rank_and_a_filtered_page_by_scan():
    from benchfarm.jobs.repository import JobRepository
    from tests.support.memory_kv import MemoryKV

    repo = JobRepository(MemoryKV())
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for i in range(12):
        repo.create(JobRecord(id=f"job-{i:02d}", spec={"name": "b"}, submitted_at=start + timedelta(seconds=i),
                              status=JobStatus.FAILED if i % 3 == 0 else JobStatus.SUCCEEDED))
    newest = [f"job-{i:02d}" for i in reversed(range(12))]
    assert [([j.id for j in jobs], more) for jobs, more in (repo.page(0, 5), repo.page(10, 5))] == [
        (newest[:5], True), (newest[10:], False)]
    assert [j.id for j in repo.page(5, 5)[0]] == newest[5:10] and repo.page(5, 7)[1] is False

    def failed(job: JobRecord) -> bool:
        return job.status == JobStatus.FAILED

    assert [j.id for j in repo.page(0, 3, keep=failed)[0]] == ["job-09", "job-06", "job-03"]
    assert repo.page(0, 3, keep=failed)[1] is True and repo.page(3, 3, keep=failed) == ([repo.get("job-00")], False)
    assert repo.page(0, 10, keep=failed, scan_limit=500)[1] is False


def test_running_reads_the_index_of_running_jobs():
    from benchfarm.jobs.repository import JobRepository
    from tests.support.memory_kv import MemoryKV

    repo = JobRepository(MemoryKV())
    for i in range(3):
        repo.create(JobRecord(id=f"job-{i}", spec={"name": "b"}, status=JobStatus.QUEUED))
    claimed = repo.claim("job-1", "worker-a", "host-a", lease_s=60, max_attempts=3)
    assert claimed is not None and [j.id for j in repo.running()] == ["job-1"]
    assert repo.running()[0].host_id == "host-a"
