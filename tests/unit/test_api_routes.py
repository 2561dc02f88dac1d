"""The API's routes over in-memory fakes: what each answers, with which status and body."""

from __future__ import annotations

import pytest

from benchfarm.errors import ServiceUnavailableError
from benchfarm.jobs.model import JobStatus
from tests.support.api_app import AUTH, IMAGE, IMAGE_ID, FakeFarm, fake_farm


@pytest.fixture
def farm(tmp_path) -> FakeFarm:
    return fake_farm(tmp_path)


def _spec(**extra):
    return {"name": "cpu-bench", "image": IMAGE, "command": ["sh", "-c", "echo '{\"v\": 1}'"], **extra}


def _submit(farm: FakeFarm, **extra) -> dict:
    resp = farm.client.post("/jobs", json=_spec(**extra), headers=AUTH)
    assert resp.status_code == 202, resp.text
    return resp.json()


# ------------------------------------------------------------------ auth
@pytest.mark.parametrize(("method", "path"), [
    ("get", "/jobs"), ("post", "/jobs"), ("get", "/jobs/job-1"), ("delete", "/jobs/job-1"),
    ("get", "/jobs/job-1/events"), ("get", "/jobs/job-1/logs"), ("get", "/jobs/job-1/compare"),
    ("get", "/jobs/job-1/junit"), ("get", "/hosts"), ("post", "/internal/host-events"),
    ("get", "/campaigns"), ("post", "/campaigns"), ("get", "/campaigns/camp-1"), ("delete", "/campaigns/camp-1"),
    ("get", "/campaigns/camp-1/compare"), ("get", "/campaigns/camp-1/junit"),
    ("post", "/internal/container-events"),
])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dTpw"}])
def test_every_route_but_healthz_needs_the_token(farm, method, path, headers):
    resp = farm.client.request(method, path, headers=headers)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert set(resp.json()) == {"error", "hint"}


def test_healthz_needs_no_token(farm):
    resp = farm.client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"


def test_healthz_is_503_degraded_when_redis_is_down(farm, monkeypatch):
    def down(key):
        raise ServiceUnavailableError("cannot reach Redis")

    monkeypatch.setattr(farm.kv, "get", down)
    resp = farm.client.get("/healthz")
    assert resp.status_code == 503
    assert resp.json() == {"status": "degraded", "redis": False, "version": resp.json()["version"],
                           "error": "cannot reach Redis"}


# ------------------------------------------------------------------ jobs
def test_submit_answers_202_once_stored_and_queued(farm):
    farm.add_host()
    accepted = _submit(farm)
    assert accepted["status"] == "queued" and accepted["image_digest"] == IMAGE_ID
    assert farm.dispatcher.sent == [(accepted["id"], accepted["queue"], 5)]
    assert farm.deps.repo.get(accepted["id"]).status == JobStatus.QUEUED


def test_an_invalid_spec_is_422_with_the_loaders_messages(farm):
    resp = farm.client.post("/jobs", json={"name": "Bad Name", "image": IMAGE, "repetitons": 3}, headers=AUTH)
    assert resp.status_code == 422
    body = resp.json()
    assert "name: 'Bad Name': use lower-case letters" in body["error"]
    assert "unknown field 'repetitons' (did you mean repetitions?)" in body["error"]
    assert body["hint"].startswith("see `benchfarm spec schema`")


@pytest.mark.parametrize(("content", "says"), [
    (b"{not json", "the body is not JSON"),
    (b"\xff\xfe", "invalid request"),
    (b"[1, 2]", "a job spec must be a mapping of fields, not a list"),
    (b"", "body: Field required"),
])
def test_a_body_that_is_not_a_json_object_is_422(farm, content, says):
    resp = farm.client.post("/jobs", content=content, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert says in resp.json()["error"]


def test_a_spec_no_host_can_run_is_409_unless_queued_anyway(farm):
    resp = farm.client.post("/jobs", json=_spec(), headers=AUTH)
    assert resp.status_code == 409
    assert "no registered host can run this job" in resp.json()["error"]
    resp = farm.client.post("/jobs", params={"queue_anyway": "true"}, json=_spec(), headers=AUTH)
    assert resp.status_code == 202


def test_an_unknown_image_is_404(farm):
    farm.add_host()
    resp = farm.client.post("/jobs", json=_spec(image="benchfarm/nope:1"), headers=AUTH)
    assert resp.status_code == 404
    assert "image not found" in resp.json()["error"]


def test_list_filters_by_status_name_and_label(farm):
    farm.add_host()
    a = _submit(farm, labels={"ci": "1"})["id"]
    b = _submit(farm, name="other", labels={"ci": "2"})["id"]

    def ids(**params):
        resp = farm.client.get("/jobs", params=params, headers=AUTH)
        assert resp.status_code == 200, resp.text
        return [j["id"] for j in resp.json()]

    assert ids() == [b, a]
    assert ids(name="other") == [b]
    assert ids(label="ci=1") == [a]
    assert ids(status="queued", limit=1) == [b]
    assert ids(status="running") == []


@pytest.mark.parametrize("params", [{"label": ""}, {"label": "no-equals"}, {"label": "=v"}, {"status": "done"},
                                    {"limit": 0}, {"limit": 1001}])
def test_list_refuses_malformed_filters_with_422(farm, params):
    resp = farm.client.get("/jobs", params=params, headers=AUTH)
    assert resp.status_code == 422
    assert resp.json()["error"].startswith("invalid request: query.")


def test_get_job_returns_the_record_and_404_for_an_unknown_id(farm):
    farm.add_host()
    job_id = _submit(farm)["id"]
    resp = farm.client.get(f"/jobs/{job_id}", headers=AUTH)
    assert resp.status_code == 200 and resp.json()["spec"]["name"] == "cpu-bench"
    resp = farm.client.get("/jobs/job-nope", headers=AUTH)
    assert resp.status_code == 404
    assert resp.json() == {"error": "no job with id 'job-nope'", "hint": "list jobs with `benchfarm jobs list`"}


def test_a_job_id_outside_the_id_grammar_is_422(farm):
    assert farm.client.get("/jobs/-leading-dash", headers=AUTH).status_code == 422


def test_cancel_a_queued_job_then_again_then_a_finished_one(farm):
    farm.add_host()
    job_id = _submit(farm)["id"]
    first = farm.client.delete(f"/jobs/{job_id}", headers=AUTH)
    assert first.status_code == 202
    assert first.json() == {"id": job_id, "status": "cancelled", "cancel_requested": True}
    assert farm.client.delete(f"/jobs/{job_id}", headers=AUTH).status_code == 202  # idempotent

    done = _submit(farm)["id"]
    farm.deps.repo.update(done, lambda j: setattr(j, "status", JobStatus.SUCCEEDED))
    resp = farm.client.delete(f"/jobs/{done}", headers=AUTH)
    assert resp.status_code == 409
    assert resp.json()["error"] == f"job {done} already succeeded: there is nothing to cancel"
    assert farm.client.delete("/jobs/job-nope", headers=AUTH).status_code == 404


def test_events_as_json_and_logs_as_text(farm):
    farm.add_host()
    job_id = _submit(farm)["id"]
    events = farm.client.get(f"/jobs/{job_id}/events", params={"follow": "false"}, headers=AUTH)
    assert events.status_code == 200
    assert [e["type"] for e in events.json()] == ["submitted", "queued"]
    logs = farm.client.get(f"/jobs/{job_id}/logs", headers=AUTH)
    assert logs.status_code == 200 and logs.headers["content-type"].startswith("text/plain")
    missing = farm.client.get("/jobs/job-nope/logs", headers=AUTH)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"


def test_compare_of_an_unknown_job_is_404_as_json_and_junit(farm):
    for path in ("/jobs/job-nope/compare", "/jobs/job-nope/junit"):
        resp = farm.client.get(path, headers=AUTH)
        assert resp.status_code == 404 and resp.headers["content-type"] == "application/json"


def test_compare_of_a_job_that_did_not_succeed_is_409(farm):
    farm.add_host()
    baseline = _submit(farm)["id"]
    farm.deps.repo.update(baseline, lambda j: setattr(j, "status", JobStatus.SUCCEEDED))
    job_id = _submit(farm)["id"]
    resp = farm.client.get(f"/jobs/{job_id}/compare", params={"baseline": baseline}, headers=AUTH)
    assert resp.status_code == 409
    assert resp.json()["error"] == f"candidate job {job_id} is queued: only succeeded jobs can be compared"


def test_compare_with_a_malformed_baseline_is_422(farm):
    farm.add_host()
    job_id = _submit(farm)["id"]
    resp = farm.client.get(f"/jobs/{job_id}/compare", params={"baseline": "not a ref!"}, headers=AUTH)
    assert resp.status_code == 422
    assert "cannot read baseline reference" in resp.json()["error"]


# ------------------------------------------------------------------ hosts and the Salt side
def test_hosts_lists_registered_hosts_with_liveness(farm):
    farm.add_host("node-a")
    rows = farm.client.get("/hosts", headers=AUTH).json()
    assert [(r["host_id"], r["alive"]) for r in rows] == [("node-a", True)]


def test_a_host_event_for_an_unknown_host_is_404_not_422(farm):
    resp = farm.client.post("/internal/host-events", json={"host_id": "ghost", "status": "good"}, headers=AUTH)
    assert resp.status_code == 404
    assert resp.json()["error"] == "no registered host 'ghost'"


def test_host_registration_then_a_forbidden_transition_is_409(farm):
    caps = {"host_id": "ignored", "cpu_count": 8}
    resp = farm.client.post("/internal/host-events", headers=AUTH,
                            json={"host_id": "node-b", "status": "unknown", "capabilities": caps})
    assert resp.status_code == 200
    assert resp.json() == {"host_id": "node-b", "status": "unknown", "pool": "default"}  # the event names the host
    assert farm.client.post("/internal/host-events", headers=AUTH,
                            json={"host_id": "node-b", "status": "retired"}).status_code == 200
    resp = farm.client.post("/internal/host-events", headers=AUTH, json={"host_id": "node-b", "status": "quarantined"})
    assert resp.status_code == 409
    assert resp.json()["error"] == "a host cannot go from retired to quarantined"


@pytest.mark.parametrize("body", [
    {"host_id": "", "status": "good"},
    {"host_id": "node-a", "status": ""},
    {"host_id": "node-a", "status": "sleeping"},
    {"host_id": "node-a", "status": "good", "time": "12"},
    {"host_id": "node-a", "status": "good", "capabilities": {"host_id": "node-a", "cpu_count": True}},
    {"host_id": "node-a", "status": "good", "capabilities": {"host_id": "x", "cpu_count": "4"}},
    {"host_id": "node-a", "status": "good", "capabilities": {"host_id": "x", "gpus": [{"index": 1.5, "model": "A"}]}},
])
def test_host_events_are_validated_strictly(farm, body):
    resp = farm.client.post("/internal/host-events", json=body, headers=AUTH)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"].startswith("invalid request: ")


def test_a_container_event_for_an_unknown_job_is_404(farm):
    event = {"host_id": "node-a", "container_id": "c" * 64, "job_id": "job-nope", "action": "oom"}
    assert farm.client.post("/internal/container-events", json=event, headers=AUTH).status_code == 404
    assert farm.client.post("/internal/container-events", json={**event, "action": "start"},
                            headers=AUTH).status_code == 422


def test_a_container_event_is_recorded_into_its_job(farm):
    farm.add_host()
    job_id = _submit(farm)["id"]
    event = {"host_id": "node-a", "container_id": "c" * 64, "job_id": job_id, "action": "die", "exit_code": 3}
    resp = farm.client.post("/internal/container-events", json=event, headers=AUTH)
    assert resp.status_code == 200
    assert resp.json() == {"job_id": job_id, "recorded": True, "job_failed": False,
                           "comment": "recorded; the job's worker handles the outcome"}


# ------------------------------------------------------------------ routing's own answers
def test_an_unsupported_method_is_405_allowing_every_method_of_the_path(farm):
    resp = farm.client.patch("/jobs", headers=AUTH)
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "GET, HEAD, POST"
    assert farm.client.put("/jobs/job-1", headers=AUTH).headers["Allow"] == "DELETE, GET, HEAD"


def test_an_unknown_path_is_404_with_the_error_body(farm):
    resp = farm.client.get("/nowhere", headers=AUTH)
    assert resp.status_code == 404 and set(resp.json()) == {"error", "hint"}
