"""The API's shape: one router per resource, every route present, every answer documented, deps built lazily."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from benchfarm.analysis.baseline_ref import parse_baseline_ref
from benchfarm.api.app import create_app
from benchfarm.api.routers import campaigns, farm, history, hosts, internal, jobs, meta, pools, schedules, verdicts
from benchfarm.api.routers.verdicts import BASELINE_PATTERN
from benchfarm.errors import ServiceUnavailableError, SetupError
from benchfarm.inventory.host_states import HostStatus
from benchfarm.jobs.model import JobStatus
from benchfarm.settings import Settings
from benchfarm.spec.model import JobSpec
from tests.support.api_app import fake_farm

ROUTES = {
    ("post", "/jobs"), ("post", "/jobs:bulk"), ("get", "/jobs"), ("get", "/jobs/{job_id}"),
    ("delete", "/jobs/{job_id}"),
    ("get", "/jobs/{job_id}/events"), ("get", "/jobs/{job_id}/logs"),
    ("get", "/jobs/{job_id}/compare"), ("get", "/jobs/{job_id}/junit"),
    ("get", "/hosts"), ("get", "/farm"), ("get", "/history"),
    ("get", "/pools"), ("post", "/pools"), ("get", "/pools/{name}"), ("patch", "/pools/{name}"),
    ("get", "/jobs/{job_id}/wait"),
    ("post", "/campaigns"), ("get", "/campaigns"), ("get", "/campaigns/{campaign_id}"),
    ("delete", "/campaigns/{campaign_id}"), ("get", "/campaigns/{campaign_id}/compare"),
    ("get", "/campaigns/{campaign_id}/junit"),
    ("post", "/schedules"), ("get", "/schedules"), ("delete", "/schedules/{schedule_id}"),
    ("post", "/internal/container-events"), ("post", "/internal/host-events"),
    ("get", "/healthz"),
}
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture(scope="module")
def doc(tmp_path_factory) -> dict:
    return fake_farm(tmp_path_factory.mktemp("api")).client.get("/openapi.json").json()


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield method, path, op


def test_every_route_is_in_the_document(doc):
    assert {(m, p) for m, p, _ in _operations(doc)} == ROUTES


def test_each_resource_has_its_router():
    def paths(router):
        return {(m.lower(), r.path) for r in router.routes for m in r.methods}

    assert paths(jobs.router) == {r for r in ROUTES if r[1].startswith("/jobs") and not r[1].endswith(
        ("/compare", "/junit", "/wait"))}
    assert paths(pools.router) == {r for r in ROUTES if r[1].startswith("/pools") or r[1].endswith("/wait")}
    assert paths(verdicts.router) == {("get", "/jobs/{job_id}/compare"), ("get", "/jobs/{job_id}/junit")}
    assert paths(hosts.router) == {("get", "/hosts")}
    assert paths(farm.router) == {("get", "/farm")}
    assert paths(history.router) == {("get", "/history")}
    assert paths(campaigns.router) == {r for r in ROUTES if r[1].startswith("/campaigns")}
    assert paths(schedules.router) == {r for r in ROUTES if r[1].startswith("/schedules")}
    assert paths(internal.router) == {r for r in ROUTES if r[1].startswith("/internal")}
    assert paths(meta.router) == {("get", "/healthz")}


def test_every_route_but_healthz_is_authenticated_and_documents_401_403_and_503(doc):
    for method, path, op in _operations(doc):
        if path == "/healthz":
            assert "security" not in op and set(op["responses"]) == {"200", "503"}
            continue
        assert op["security"] == [{"HTTPBearer": []}], (method, path)
        assert {"401", "403", "503"} <= set(op["responses"]), (method, path)


def test_every_error_answer_is_documented_as_the_error_body(doc):
    for method, path, op in _operations(doc):
        for status, response in op["responses"].items():
            if int(status) < 400 or path == "/healthz":
                continue
            assert response["content"] == {"application/json": {"schema": ERROR_BODY}}, (method, path, status)
    assert set(doc["components"]["schemas"]["ErrorBody"]["properties"]) == {"error", "hint"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]  # FastAPI's default 422 shape is never answered


@pytest.mark.parametrize(("method", "path", "statuses"), [
    ("post", "/jobs", {"202", "401", "403", "404", "409", "422", "502", "503"}),
    ("post", "/jobs:bulk", {"202", "401", "403", "404", "409", "422", "502", "503"}),
    ("get", "/jobs", {"200", "401", "403", "422", "503"}),
    ("get", "/jobs/{job_id}", {"200", "401", "403", "404", "422", "503"}),
    ("delete", "/jobs/{job_id}", {"202", "401", "403", "404", "409", "422", "503"}),
    ("post", "/internal/host-events", {"200", "401", "403", "404", "409", "422", "503"}),
    ("get", "/jobs/{job_id}/compare", {"200", "401", "403", "404", "409", "422", "503"}),
    ("get", "/jobs/{job_id}/junit", {"200", "401", "403", "404", "409", "422", "503"}),
    ("post", "/campaigns", {"202", "401", "403", "404", "409", "422", "502", "503"}),
    ("get", "/campaigns/{campaign_id}/compare", {"200", "401", "403", "404", "422", "503"}),
    ("delete", "/campaigns/{campaign_id}", {"202", "401", "403", "404", "422", "503"}),
    ("post", "/schedules", {"201", "401", "403", "409", "422", "503"}),
    ("get", "/schedules", {"200", "401", "403", "503"}),
    ("delete", "/schedules/{schedule_id}", {"200", "401", "403", "404", "422", "503"}),
])
def test_each_route_documents_what_it_answers(doc, method, path, statuses):
    assert set(doc["paths"][path][method]["responses"]) == statuses


def test_submit_documents_the_job_spec_as_its_body(doc):
    body = doc["paths"]["/jobs"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    assert set(schema["properties"]) == set(JobSpec.model_fields)
    assert schema["required"] == ["name", "image"] and schema["additionalProperties"] is False


def test_parameters_and_bodies_say_what_is_accepted(doc):
    params = {p["name"]: p["schema"] for p in doc["paths"]["/jobs"]["get"]["parameters"]}
    assert params["label"]["anyOf"][0]["pattern"] == "^[^=]+="
    status_ref = params["status"]["anyOf"][0]["$ref"].rsplit("/", 1)[-1]
    assert doc["components"]["schemas"][status_ref]["enum"] == [s.value for s in JobStatus]

    host_event = doc["paths"]["/internal/host-events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert host_event["properties"]["host_id"]["minLength"] == 1
    host_status = host_event["properties"]["status"]["$ref"].rsplit("/", 1)[-1]
    assert doc["components"]["schemas"][host_status]["enum"] == [s.value for s in HostStatus]
    container = doc["paths"]["/internal/container-events"]["post"]["requestBody"]["content"]["application/json"]
    assert container["schema"]["properties"]["action"]["enum"] == ["die", "oom"]


def test_text_and_xml_routes_document_their_media_type(doc):
    assert set(doc["paths"]["/jobs/{job_id}/logs"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    assert set(doc["paths"]["/jobs/{job_id}/junit"]["get"]["responses"]["200"]["content"]) == {"application/xml"}
    assert set(doc["paths"]["/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]) == {
        "application/json", "text/event-stream"}


# ------------------------------------------------------------------ dependencies
def test_deps_come_from_the_builder_once_on_first_use(tmp_path):
    built = fake_farm(tmp_path).deps
    calls = []

    def build_api_deps(settings):
        calls.append(settings)
        if len(calls) <= 2:
            raise ServiceUnavailableError("cannot reach Redis", hint="start it")
        return built

    settings = Settings(state_dir=tmp_path, api_token="t")
    client = TestClient(create_app(settings, build_deps=build_api_deps))
    assert calls == []  # nothing is built at start
    # a request refused at the door is still refused when the clients cannot be built (its audit is what tries)
    assert client.get("/hosts").status_code == 401 and calls == [settings]
    first = client.get("/hosts", headers={"Authorization": "Bearer t"})
    assert first.status_code == 503 and first.json() == {"error": "cannot reach Redis", "hint": "start it"}
    assert client.get("/hosts", headers={"Authorization": "Bearer t"}).status_code == 200  # tried again
    assert client.get("/jobs", headers={"Authorization": "Bearer t"}).status_code == 200
    assert calls == [settings, settings, settings]


def test_the_app_refuses_to_start_without_a_token(tmp_path):
    with pytest.raises(SetupError):
        create_app(Settings(state_dir=tmp_path, api_token=None, api_auth=True))


def test_without_auth_no_token_is_needed(tmp_path):
    farm = fake_farm(tmp_path)
    settings = Settings(state_dir=tmp_path, api_auth=False)
    client = TestClient(create_app(settings, farm.deps))
    assert client.get("/hosts").status_code == 200


def test_every_reference_in_the_document_resolves(doc):
    refs: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    schemas = doc["components"]["schemas"]
    assert refs and all(r.startswith("#/components/schemas/") for r in refs)
    assert {r.rsplit("/", 1)[-1] for r in refs} <= set(schemas)


def test_the_event_stream_documents_each_event(doc):
    event = doc["paths"]["/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert event["properties"]["data"]["contentSchema"]["anyOf"] == [
        {"$ref": "#/components/schemas/JobEvent"}, ERROR_BODY]


# ------------------------------------------------------------------ the baseline reference's documented grammar
@pytest.mark.parametrize("ref", ["latest", "job-20261201120000-1a2b3c4d", "0f8fad5b-d9cb-469f-a165-70867728950e",
                                 "label:release=2.1", "label:ci/build=42=x", "main@3f2c1ab",
                                 "release/2.1@v2.1.0", "feature/x-1@0.9"])
def test_the_documented_baseline_forms_match_and_parse(ref):
    assert re.fullmatch(BASELINE_PATTERN, ref)
    parse_baseline_ref(ref)


@pytest.mark.parametrize("ref", ["", " latest", "label:=v", "label:k=", "main@", "a..b@c", "x.lock@y", "nope",
                                 "label:k=has space"])
def test_malformed_baselines_do_not_match(ref):
    assert re.fullmatch(BASELINE_PATTERN, ref) is None


@hypothesis_settings(max_examples=400, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(BASELINE_PATTERN, fullmatch=True))
def test_whatever_the_baseline_pattern_matches_parses(ref):
    parse_baseline_ref(ref)  # the document never promises a form the parser refuses
