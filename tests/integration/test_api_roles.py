"""Users and roles on the running API: tokens made with `benchfarm tokens create`, another team's private
job refused (403) while its own team cancels it and reads its logs, a revoked token answered 401, and the
refusal found in the audit index of the farm's Elasticsearch.

The tokens are made by the real CLI (through Redis) and revoked at the end; the job is cancelled.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.settings import Settings
from benchfarm.store.templates import index_names
from tests.integration.jobs_support import busybox_spec, cli


@pytest.fixture(scope="module")
def made_tokens() -> Iterator[list[str]]:
    """Ids of the tokens a test made; each is revoked afterwards."""
    ids: list[str] = []
    yield ids
    for token_id in ids:
        cli("tokens", "revoke", token_id)


def _create(made_tokens: list[str], user: str, team: str, role: str = "submit") -> dict[str, Any]:
    proc = cli("tokens", "create", "--user", user, "--team", team, "--role", role, "--json")
    assert proc.returncode == 0, proc.stderr
    created: dict[str, Any] = json.loads(proc.stdout)
    made_tokens.append(created["id"])
    return created


def _api(settings: Settings, created: dict[str, Any]) -> httpx.Client:
    return httpx.Client(base_url=settings.effective_api_url, timeout=30,
                        headers={"Authorization": f"Bearer {created['token']}"})


def _audit_docs(settings: Settings, user: str, timeout_s: float = 60) -> list[dict[str, Any]]:
    """The audit documents of ``user``, waiting for the first to arrive (the API writes them off the request)."""
    es = EsClient.from_settings(settings)
    index = index_names(settings.index_prefix)["audit"]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            es.refresh(index)
            hits = es.search(index, {"query": {"term": {"user": user}}, "size": 100})["hits"]["hits"]
        except Exception:  # the index appears with its first document
            hits = []
        if hits or time.monotonic() > deadline:
            return [h["_source"] for h in hits]
        time.sleep(1)


def test_another_teams_private_job_is_refused_and_audited(farm, settings, busybox_image, made_tokens):
    run = uuid.uuid4().hex[:8]
    alice = _create(made_tokens, f"alice-{run}", f"team-a-{run}")
    bob = _create(made_tokens, f"bob-{run}", f"team-b-{run}")
    listed = json.loads(cli("tokens", "list", "--json").stdout)
    assert {alice["id"], bob["id"]} <= {t["id"] for t in listed}
    assert all("token" not in t for t in listed)  # never shown again

    with _api(settings, alice) as a, _api(settings, bob) as b:
        spec = busybox_spec(busybox_image, "sleep 60; echo '{\"v\": 1}'")
        resp = a.post("/jobs", json=spec, params={"queue_anyway": "true"})
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["id"]
        job = a.get(f"/jobs/{job_id}").json()
        assert (job["submitted_by"], job["team"], job["visibility"]) == (alice["user"], alice["team"], "private")

        for method, path in (("DELETE", f"/jobs/{job_id}"), ("GET", f"/jobs/{job_id}/logs"),
                             ("GET", f"/jobs/{job_id}")):
            refused = b.request(method, path)
            assert refused.status_code == 403, (method, path, refused.text)
            assert set(refused.json()) == {"error", "hint"}
        assert job_id not in {j["id"] for j in b.get("/jobs", params={"limit": 1000}).json()}

        assert a.get(f"/jobs/{job_id}/logs").status_code == 200
        assert a.delete(f"/jobs/{job_id}").status_code == 202

        assert cli("tokens", "revoke", bob["id"]).returncode == 0
        revoked = b.get("/jobs")
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]

    docs = _audit_docs(settings, bob["user"])
    refusals = [(d["status"], d["method"], d["target"]) for d in docs if d["outcome"] == "refused"]
    assert (403, "DELETE", job_id) in refusals, docs
