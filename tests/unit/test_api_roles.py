"""Users, teams and roles on the API, over the in-memory app: who may submit, see, cancel and read logs,
the internal credential, revoked tokens, and the audit documents of refusals and operator actions."""

from __future__ import annotations

import pytest

from benchfarm.access.audit import AuditLog
from benchfarm.access.tokens import Role, TokenStore
from benchfarm.errors import NotFoundError, UserInputError
from benchfarm.jobs.model import JobRecord
from tests.support.api_app import AUTH, IMAGE, INTERNAL_TOKEN, FakeFarm, fake_farm
from tests.support.memory_kv import MemoryKV


@pytest.fixture
def farm(tmp_path) -> FakeFarm:
    f = fake_farm(tmp_path)
    f.add_host()
    return f


def _token(farm: FakeFarm, user: str, team: str, role: str = "submit") -> dict[str, str]:
    token, _ = farm.deps.tokens.create(user, team, role)
    return {"Authorization": f"Bearer {token}"}


def _submit(farm: FakeFarm, headers: dict[str, str], **params: str) -> str:
    resp = farm.client.post("/jobs", params=params, headers=headers,
                            json={"name": "cpu-bench", "image": IMAGE, "command": ["true"]})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def test_a_job_records_who_submitted_it_and_is_private_by_default(farm):
    job_id = _submit(farm, _token(farm, "alice", "team-a"))
    job = farm.deps.repo.get(job_id)
    assert (job.submitted_by, job.team, job.visibility) == ("alice", "team-a", "private")


def test_a_record_from_before_teams_loads_as_public_and_without_owner():
    old = JobRecord.model_validate({"id": "job-1", "spec": {"name": "x"}})
    assert (old.submitted_by, old.team, old.visibility) == (None, None, "public")


@pytest.mark.parametrize(("method", "suffix"), [
    ("delete", ""), ("get", "/logs"), ("get", ""), ("get", "/events?follow=false"), ("get", "/compare"),
])
def test_another_teams_private_job_is_refused_with_403(farm, method, suffix):
    job_id = _submit(farm, _token(farm, "alice", "team-a"))
    resp = farm.client.request(method, f"/jobs/{job_id}{suffix}", headers=_token(farm, "bob", "team-b"))
    assert resp.status_code == 403, resp.text
    assert set(resp.json()) == {"error", "hint"} and "team-a" in resp.json()["error"]


def test_the_own_team_cancels_and_reads_the_logs(farm):
    job_id = _submit(farm, _token(farm, "alice", "team-a"))
    carol = _token(farm, "carol", "team-a")
    assert farm.client.get(f"/jobs/{job_id}/logs", headers=carol).status_code == 200
    assert farm.client.delete(f"/jobs/{job_id}", headers=carol).status_code == 202


def test_a_public_job_is_readable_by_other_teams_but_not_cancellable(farm):
    job_id = _submit(farm, _token(farm, "alice", "team-a"), visibility="public")
    bob = _token(farm, "bob", "team-b")
    assert farm.client.get(f"/jobs/{job_id}/logs", headers=bob).status_code == 200
    assert farm.client.delete(f"/jobs/{job_id}", headers=bob).status_code == 403


def test_listing_leaves_out_other_teams_private_jobs(farm):
    private = _submit(farm, _token(farm, "alice", "team-a"))
    public = _submit(farm, _token(farm, "alice", "team-a"), visibility="public")
    mine = _submit(farm, bob := _token(farm, "bob", "team-b"))
    seen = {j["id"] for j in farm.client.get("/jobs", headers=bob).json()}
    assert seen == {public, mine}
    everything = {j["id"] for j in farm.client.get("/jobs", headers=_token(farm, "op", "ops", "operate")).json()}
    assert {private, public, mine} <= everything


def test_an_operator_cancels_another_teams_job_and_it_is_audited(farm):
    job_id = _submit(farm, _token(farm, "alice", "team-a"))
    resp = farm.client.delete(f"/jobs/{job_id}", headers=_token(farm, "olga", "ops", "operate"))
    assert resp.status_code == 202
    [doc] = [d for d in farm.audit_docs() if d["action"] == "jobs.cancel"]
    assert (doc["user"], doc["role"], doc["target"], doc["outcome"]) == ("olga", "operate", job_id, "allowed")


def test_the_farm_token_is_an_admin_and_reaches_every_team(farm):
    job_id = _submit(farm, _token(farm, "alice", "team-a"))
    assert farm.client.get(f"/jobs/{job_id}/logs", headers=AUTH).status_code == 200
    assert farm.client.delete(f"/jobs/{job_id}", headers=AUTH).status_code == 202


def test_a_revoked_token_gets_401(farm):
    token, record = farm.deps.tokens.create("dave", "team-a", "submit")
    headers = {"Authorization": f"Bearer {token}"}
    assert farm.client.get("/jobs", headers=headers).status_code == 200
    farm.deps.tokens.revoke(record.id)
    resp = farm.client.get("/jobs", headers=headers)
    assert resp.status_code == 401 and "revoked" in resp.json()["error"]


def test_internal_routes_take_the_internal_credential_and_refuse_user_tokens(farm):
    body = {"host_id": "node-a", "status": "good", "reason": "checks pass"}
    internal = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}
    assert farm.client.post("/internal/host-events", json=body, headers=internal).status_code == 200
    assert farm.client.post("/internal/host-events", json=body, headers=AUTH).status_code == 200  # admin too
    for role in ("submit", "operate"):
        resp = farm.client.post("/internal/host-events", json=body, headers=_token(farm, "u", "t", role))
        assert resp.status_code == 403, role
    # and the internal credential opens nothing else
    assert farm.client.get("/jobs", headers=internal).status_code == 403


def test_every_refusal_is_one_audit_document(farm):
    job_id = _submit(farm, _token(farm, "alice", "team-a"))
    farm.client.delete(f"/jobs/{job_id}", headers=_token(farm, "bob", "team-b"))
    farm.client.get("/jobs", headers={"Authorization": "Bearer nope"})
    docs = [d for d in farm.audit_docs() if d["outcome"] == "refused"]
    assert [(d["status"], d["user"], d["team"], d["method"]) for d in docs] == [
        (403, "bob", "team-b", "DELETE"), (401, None, None, "GET")]
    assert docs[0]["target"] == job_id and docs[0]["path"] == f"/jobs/{job_id}"


def test_an_audit_sink_that_fails_never_fails_the_request(farm):
    def broken(_docs):
        raise RuntimeError("Elasticsearch is on fire")

    farm.deps.audit = AuditLog(broken)
    resp = farm.client.get("/jobs", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    assert farm.deps.audit.close()


def test_the_token_store_keeps_only_hashes_and_lists_revoked_tokens():
    kv = MemoryKV()
    store = TokenStore(kv)
    token, record = store.create("alice", "team-a", Role.OPERATE)
    assert token not in "".join(kv.data.values()) and record.sha256 in "".join(kv.data)
    store.revoke(record.id)
    assert store.revoke(record.id).revoked  # idempotent
    [listed] = store.list()
    assert listed.public()["revoked"] and listed.role is Role.OPERATE
    assert store.lookup(token) == listed and store.lookup("other") is None


@pytest.mark.parametrize(("user", "team", "role", "error"), [
    ("al ice", "a", "submit", UserInputError), ("alice", "", "submit", UserInputError),
    ("alice", "a", "root", UserInputError), ("alice", "a", "internal", UserInputError),
])
def test_the_token_store_refuses_what_it_cannot_name(user, team, role, error):
    with pytest.raises(error):
        TokenStore(MemoryKV()).create(user, team, role)


def test_revoking_an_unknown_id_is_not_found():
    with pytest.raises(NotFoundError):
        TokenStore(MemoryKV()).revoke("abcdef")


@pytest.mark.parametrize(("role", "needed", "allowed"), [
    (Role.SUBMIT, Role.SUBMIT, True), (Role.SUBMIT, Role.OPERATE, False), (Role.OPERATE, Role.SUBMIT, True),
    (Role.OPERATE, Role.ADMIN, False), (Role.ADMIN, Role.OPERATE, True), (Role.ADMIN, Role.INTERNAL, True),
    (Role.OPERATE, Role.INTERNAL, False), (Role.INTERNAL, Role.INTERNAL, True), (Role.INTERNAL, Role.SUBMIT, False),
])
def test_roles_include_the_ones_below(role, needed, allowed):
    assert role.allows(needed) is allowed
