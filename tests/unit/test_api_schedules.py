"""``/schedules`` over in-memory fakes: who a schedule belongs to, who sees and removes it, what a fire submits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from benchfarm.schedules.loop import JobSubmitter, Scheduler
from benchfarm.schedules.repository import ScheduleRepository
from benchfarm.schedules.service import ScheduleService
from tests.support.api_app import AUTH, IMAGE, FakeFarm, fake_farm

SPEC = {"name": "nightly", "image": IMAGE, "command": ["true"], "env": {"SIZE": "1"}}


@pytest.fixture
def farm(tmp_path) -> FakeFarm:
    f = fake_farm(tmp_path)
    f.deps.schedules = ScheduleService(ScheduleRepository(f.kv))
    return f


def _token(farm: FakeFarm, user: str, team: str, role: str = "submit") -> dict[str, str]:
    secret, _ = farm.deps.tokens.create(user, team, role)
    return {"Authorization": f"Bearer {secret}"}


def test_a_schedule_records_the_tokens_user_and_team_and_its_fire_submits_as_them(farm):
    ann = _token(farm, "ann", "red")
    farm.add_host()
    resp = farm.client.post("/schedules", json={"id": "nightly-red", "cron": "0 2 * * *", "spec": SPEC}, headers=ann)
    assert resp.status_code == 201, resp.text
    view = resp.json()
    assert (view["created_by"], view["team"], view["visibility"]) == ("ann", "red", "private")
    assert "T02:00:00" in view["next_fire"]
    assert view["spec"]["name"] == "nightly" and view["last_fire"] is None
    # the fire goes through the same job service as a submit, as the schedule's creator
    scheduler = Scheduler(farm.deps.schedules.repo, JobSubmitter(farm.deps.jobs),
                          clock=lambda: datetime(2026, 12, 3, 2, 0, 1, tzinfo=UTC))
    (fire,) = scheduler.tick()
    job = farm.deps.repo.get(fire.job_id)
    assert (job.submitted_by, job.team, job.visibility) == ("ann", "red", "private")
    listed = farm.client.get("/schedules", headers=ann).json()
    assert [s["id"] for s in listed] == ["nightly-red"] and listed[0]["last_fire"]["job_id"] == fire.job_id


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"cron": "not cron", "spec": SPEC}, 422, "cron"),
    ({"cron": "0 2 * * *", "spec": {**SPEC, "repetitions": 0}}, 422, "repetitions"),
    ({"cron": "0 2 * * *", "spec": SPEC, "matrix": {"NOPE": ["1"]}}, 422, "NOPE: not an environment variable"),
    ({"cron": "0 2 * * *", "spec": SPEC, "across": ["rack:7"]}, 422, "rack"),
    ({"cron": "0 2 * * *", "spec": SPEC, "id": "Has Spaces"}, 422, "id"),
    ({"cron": "0 2 * * *", "spec": SPEC, "each_host": True, "across": ["pool:a"]}, 422, "exclude each other"),
    ({"cron": "0 2 * * *", "spec": SPEC, "pool": "a"}, 422, "--pool goes with --each-host"),
    ({"cron": "0 2 * * *", "spec": SPEC, "matrix": {"SIZE": ["1", "1"]}}, 422, "empty or repeated value"),
])
def test_a_bad_schedule_is_refused_naming_what_is_wrong(farm, body, status, says):
    resp = farm.client.post("/schedules", json=body, headers=AUTH)
    assert resp.status_code == status and says in resp.text, resp.text
    assert farm.client.get("/schedules", headers=AUTH).json() == []


def test_a_taken_id_is_409(farm):
    body = {"id": "twice", "cron": "0 2 * * *", "spec": SPEC}
    assert farm.client.post("/schedules", json=body, headers=AUTH).status_code == 201
    resp = farm.client.post("/schedules", json=body, headers=AUTH)
    assert resp.status_code == 409 and "exists" in resp.json()["error"]


def test_another_teams_private_schedule_is_hidden_and_cannot_be_removed_but_an_operator_can(farm):
    ann, bob, ops = _token(farm, "ann", "red"), _token(farm, "bob", "blue"), _token(farm, "ops", "blue", "operate")
    farm.client.post("/schedules", json={"id": "red-1", "cron": "0 2 * * *", "spec": SPEC}, headers=ann)
    farm.client.post("/schedules", json={"id": "red-pub", "cron": "0 3 * * *", "spec": SPEC,
                                         "visibility": "public"}, headers=ann)
    assert [s["id"] for s in farm.client.get("/schedules", headers=bob).json()] == ["red-pub"]
    assert farm.client.delete("/schedules/red-1", headers=bob).status_code == 403
    assert farm.client.delete("/schedules/red-pub", headers=bob).status_code == 403  # public: seen, not his
    assert [s["id"] for s in farm.client.get("/schedules", headers=ops).json()] == ["red-1", "red-pub"]
    resp = farm.client.delete("/schedules/red-1", headers=ops)
    assert resp.status_code == 200 and resp.json()["id"] == "red-1"
    assert any(d["action"] == "schedules.remove" and d["target"] == "red-1" for d in farm.audit_docs())
    assert farm.client.delete("/schedules/red-1", headers=ops).status_code == 404
    assert farm.client.delete("/schedules/red-pub", headers=ann).status_code == 200


def test_without_a_token_every_route_is_401(farm):
    assert farm.client.get("/schedules").status_code == 401
    assert farm.client.post("/schedules", json={}).status_code == 401
    assert farm.client.delete("/schedules/x").status_code == 401
