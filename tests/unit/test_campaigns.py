"""Campaigns: the plan's grammar, the derived status, and the /campaigns routes over in-memory fakes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from benchfarm.campaigns.model import CampaignJob, CampaignRecord, CampaignStatus, campaign_status
from benchfarm.campaigns.plan import Target, parse_matrix, parse_targets, plan_jobs, points
from benchfarm.campaigns.pricing import merge_prices, parse_prices
from benchfarm.errors import UserInputError
from benchfarm.jobs.model import JobStatus, RepetitionRecord
from tests.support.api_app import AUTH, IMAGE, FakeFarm, fake_farm

SPEC = {"name": "cpu-bench", "image": IMAGE, "env": {"THREADS": "1", "MODE": "ok"}, "warmup": 0, "repetitions": 3,
        "results": {"metrics": {"eps": {"unit": "events/s", "direction": "higher"}}}}


# ------------------------------------------------------------------ plan
@pytest.mark.parametrize(("items", "expected"), [
    (["pool:a,pool:b"], [Target("pool", "a", "a"), Target("pool", "b", "b")]),
    (["a", "pool:b", "pool:a"], [Target("pool", "a", "a"), Target("pool", "b", "b")]),
    (["host:n1"], [Target("host", "n1", None)]),
])
def test_targets_parse(items, expected):
    assert parse_targets(items) == expected


@pytest.mark.parametrize("bad", ["rack:a", "pool:", "pool:a b", ""])
def test_bad_targets_are_refused_with_the_grammar(bad):
    with pytest.raises(UserInputError, match="bad campaign target") as info:
        parse_targets([bad])
    assert "pool:NAME" in (info.value.hint or "")


def test_matrix_axes_multiply_first_axis_slowest():
    matrix = parse_matrix(["THREADS=1,2", "MODE=ok,bad"])
    assert points(matrix) == [{"THREADS": "1", "MODE": "ok"}, {"THREADS": "1", "MODE": "bad"},
                              {"THREADS": "2", "MODE": "ok"}, {"THREADS": "2", "MODE": "bad"}]
    assert points({}) == [{}]


@pytest.mark.parametrize("bad", ["THREADS", "1X=1", "THREADS=1,,2", "THREADS=1,1"])
def test_bad_matrix_items_are_refused(bad):
    with pytest.raises(UserInputError):
        parse_matrix([bad])


def test_a_matrix_key_twice_is_refused():
    with pytest.raises(UserInputError, match="twice"):
        parse_matrix(["A=1", "A=2"])


def test_each_planned_job_sets_env_pool_and_labels():
    planned = plan_jobs(SPEC, parse_targets(["pool:a,pool:b"]), parse_matrix(["THREADS=1,2"]), "camp-x")
    assert [(e.target, e.point) for e, _ in planned] == [
        ("pool:a", {"THREADS": "1"}), ("pool:a", {"THREADS": "2"}),
        ("pool:b", {"THREADS": "1"}), ("pool:b", {"THREADS": "2"})]
    _, data = planned[3]
    assert data["env"] == {"THREADS": "2", "MODE": "ok"} and data["requirements"] == {"pool": "b"}
    assert data["labels"] == {"benchfarm_campaign": "camp-x", "benchfarm_target": "pool:b",
                              "benchfarm_point": "THREADS=2"}
    assert SPEC["env"] == {"THREADS": "1", "MODE": "ok"}  # the base spec is untouched


def test_too_many_jobs_are_refused():
    with pytest.raises(UserInputError, match="more than"):
        plan_jobs(SPEC, [], {"A": [str(i) for i in range(30)], "B": [str(i) for i in range(30)]}, "c")


def test_prices_parse_and_a_given_price_wins():
    assert parse_prices(["a=0.5", "b=$1.25/h", "c = 2e-1 / h"]) == {"a": 0.5, "b": 1.25, "c": 0.2}
    for bad in ("a", "a=0", "a=-1", "a=x/h"):
        with pytest.raises(UserInputError):
            parse_prices([bad])
    assert merge_prices({"a": 1.0, "b": 0.0, "c": 3.0}, {"a": 0.5}) == {"a": (0.5, "given"),
                                                                     "c": (3.0, "pool definition")}


# ------------------------------------------------------------------ status
def _record(n):
    return CampaignRecord(id="c", name="n", spec={}, jobs=[CampaignJob(target="any") for _ in range(n)])


@pytest.mark.parametrize(("statuses", "cancel", "expected"), [
    ([JobStatus.SUCCEEDED, JobStatus.RUNNING], False, CampaignStatus.RUNNING),
    ([JobStatus.SUCCEEDED, JobStatus.SUCCEEDED], False, CampaignStatus.SUCCEEDED),
    ([JobStatus.SUCCEEDED, JobStatus.FAILED], False, CampaignStatus.PARTIAL),
    ([JobStatus.FAILED, JobStatus.CANCELLED], False, CampaignStatus.FAILED),
    ([JobStatus.SUCCEEDED, JobStatus.CANCELLED], True, CampaignStatus.CANCELLED),
    ([JobStatus.SUCCEEDED], False, CampaignStatus.PARTIAL),  # the second job was refused
])
def test_campaign_status_is_derived_from_its_jobs(statuses, cancel, expected):
    record = _record(2)
    record.cancel_requested = cancel
    assert campaign_status(record, statuses) == expected


# ------------------------------------------------------------------ routes
@pytest.fixture
def farm(tmp_path) -> FakeFarm:
    f = fake_farm(tmp_path)
    f.add_host("node-a", pool="a", cpu_model="Xeon")
    f.add_host("node-b", pool="b", cpu_model="EPYC")
    return f


def _post(farm, **request):
    return farm.client.post("/campaigns", json={"spec": SPEC, **request}, headers=AUTH)


def test_a_campaign_submits_one_labelled_job_per_target_and_point(farm):
    resp = _post(farm, across=["pool:a", "pool:b"], matrix={"THREADS": ["1", "2"]})
    assert resp.status_code == 202, resp.text
    view = resp.json()
    assert view["status"] == "running" and view["counts"] == {"queued": 4}
    queues = sorted(q for _, q, _ in farm.dispatcher.sent)
    assert queues == ["pool.a", "pool.a", "pool.b", "pool.b"]
    job = farm.deps.repo.get(view["jobs"][3]["job_id"])
    assert job.labels["benchfarm_campaign"] == view["id"] and job.spec["env"]["THREADS"] == "2"
    listed = farm.client.get("/campaigns", headers=AUTH).json()
    assert [(c["id"], c["jobs"]) for c in listed] == [(view["id"], 4)]
    assert farm.client.get(f"/campaigns/{view['id']}", headers=AUTH).json()["jobs"] == view["jobs"]


def test_each_host_makes_one_target_per_host_of_the_pool(farm):
    farm.add_host("node-a2", pool="a", cpu_model="Xeon")
    view = _post(farm, each_host=True, pool="a").json()
    assert [j["target"] for j in view["jobs"]] == ["host:node-a", "host:node-a2"]
    assert {j["pool"] for j in view["jobs"]} == {"a"}


@pytest.mark.parametrize(("request_", "status", "says"), [
    ({"across": ["pool:a", "pool:nowhere"]}, 409, "pool:nowhere"),
    ({"across": ["pool:a"], "matrix": {"THREDS": ["1"]}}, 422, "not an environment variable"),
    ({"across": ["pool:a"], "each_host": True}, 422, "exclude each other"),
    ({"across": ["rack:a"]}, 422, "bad campaign target"),
])
def test_an_impossible_campaign_is_refused_before_any_job_is_submitted(farm, request_, status, says):
    resp = _post(farm, **request_)
    assert resp.status_code == status, resp.text
    assert says in resp.json()["error"]
    assert farm.dispatcher.sent == [] and farm.client.get("/campaigns", headers=AUTH).json() == []


def _finish(farm, job_id, values, status=JobStatus.SUCCEEDED, reason=None, host="node-a", hw="Xeon"):
    def done(job):
        job.status, job.reason, job.host_id, job.hardware_class = status, reason, host, hw
        job.repetitions = [RepetitionRecord(index=i, metrics={"eps": v}, exit_code=0) for i, v in enumerate(values)]
        job.finished_at = datetime.now(UTC)

    farm.deps.repo.update(job_id, done)


def test_compare_and_junit_report_the_others_and_name_the_failure(farm):
    view = _post(farm, across=["pool:a", "pool:b"], matrix={"THREADS": ["1", "2"]}).json()
    ids = [j["job_id"] for j in view["jobs"]]
    _finish(farm, ids[0], [100, 101, 99])
    _finish(farm, ids[1], [190, 200, 195])
    _finish(farm, ids[2], [150, 151, 149], host="node-b", hw="EPYC")
    _finish(farm, ids[3], [], JobStatus.FAILED, "exit code 1 in repetition 0", host="node-b", hw="EPYC")
    assert farm.client.get(f"/campaigns/{view['id']}", headers=AUTH).json()["status"] == "partial"
    resp = farm.client.get(f"/campaigns/{view['id']}/compare", params={"price": ["a=0.5"], "reference": "b"},
                           headers=AUTH)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["reference"] == "b / EPYC" and [g["key"] for g in data["groups"]] == ["a / Xeon", "b / EPYC"]
    cells = {(c["group"], c["point"]): c for c in data["metrics"][0]["cells"]}
    assert cells[("a / Xeon", "THREADS=1")]["ratio"] == pytest.approx(100 / 150)
    assert cells[("a / Xeon", "THREADS=1")]["per_dollar"] == pytest.approx(200)
    assert cells[("b / EPYC", "THREADS=1")]["per_dollar"] is None
    assert [f["job_id"] for f in data["failures"]] == [ids[3]]
    assert [c["group"] for c in data["scaling"]] == ["a / Xeon"]
    junit = ET.fromstring(farm.client.get(f"/campaigns/{view['id']}/junit", headers=AUTH).text)
    assert junit.get("tests") == "4" and junit.get("failures") == "1"
    (failure,) = junit.iter("failure")
    assert ids[3] in failure.text and "exit code 1" in failure.text


def test_compare_before_any_result_is_422(farm):
    view = _post(farm, across=["pool:a"]).json()
    resp = farm.client.get(f"/campaigns/{view['id']}/compare", headers=AUTH)
    assert resp.status_code == 422 and "no results" in resp.json()["error"]


def test_cancel_cancels_every_unfinished_job(farm):
    view = _post(farm, across=["pool:a", "pool:b"]).json()
    _finish(farm, view["jobs"][0]["job_id"], [1.0])
    resp = farm.client.delete(f"/campaigns/{view['id']}", headers=AUTH)
    assert resp.status_code == 202
    after = resp.json()
    assert after["status"] == "cancelled"
    assert [j["status"] for j in after["jobs"]] == ["succeeded", "cancelled"]


def test_unknown_campaign_is_404(farm):
    resp = farm.client.get("/campaigns/camp-nope", headers=AUTH)
    assert resp.status_code == 404 and "benchfarm campaign list" in resp.json()["hint"]


def test_another_teams_private_campaign_is_403_and_left_out_of_listings(farm):
    def token(user, team, role="submit"):
        secret, _ = farm.deps.tokens.create(user, team, role)
        return {"Authorization": f"Bearer {secret}"}

    ours, theirs, operator = token("ann", "red"), token("bob", "blue"), token("ops", "blue", "operate")
    view = farm.client.post("/campaigns", json={"spec": SPEC, "across": ["pool:a"]}, headers=ours).json()
    assert farm.deps.repo.get(view["jobs"][0]["job_id"]).team == "red"
    for method, suffix in (("get", ""), ("get", "/compare"), ("get", "/junit"), ("delete", "")):
        resp = farm.client.request(method, f"/campaigns/{view['id']}{suffix}", headers=theirs)
        assert resp.status_code == 403, (method, suffix, resp.text)
    assert farm.client.get("/campaigns", headers=theirs).json() == []
    assert [c["id"] for c in farm.client.get("/campaigns", headers=operator).json()] == [view["id"]]
    assert farm.client.delete(f"/campaigns/{view['id']}", headers=operator).status_code == 202


def test_a_campaign_plot_draws_a_median_that_lies_outside_its_bootstrap_interval():
    from benchfarm.report.campaign import scaling_plot

    # a bootstrap interval of few repetitions need not contain the median (seen on the farm: matplotlib refused
    # the negative whisker and `benchfarm campaign report` failed)
    points = [{"x": 1, "median": 10.0, "ci": [10.5, 12.0], "ideal": 10.0},
              {"x": 2, "median": 18.0, "ci": [15.0, 17.5], "ideal": 20.0}]
    curve = {"group": "a", "rest": "", "axis": "THREADS", "metric": "ops", "points": points}
    assert scaling_plot([curve]).startswith("data:image/png;base64,")
