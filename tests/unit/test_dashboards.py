"""The shipped Kibana saved objects and panel queries: well-formed, consistent, in step with the catalogue;
and the request `benchfarm dashboards install` sends."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from benchfarm.dashboards.generate import NDJSON_NAME, generate
from benchfarm.dashboards.install import install
from benchfarm.dashboards.kibana import INDEX_REF, saved_objects
from benchfarm.dashboards.panels import PANELS
from benchfarm.dashboards.queries import DASHBOARDS_DIR, QUERIES_DIR, build_query, placeholders, render
from benchfarm.errors import BenchfarmError, ServiceUnavailableError, UserInputError

NDJSON = DASHBOARDS_DIR / NDJSON_NAME


def _objects() -> list[dict]:
    lines = [line for line in NDJSON.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line parses, or this raises


def test_every_line_is_a_saved_object_with_id_type_attributes_references():
    objs = _objects()
    assert {o["type"] for o in objs} == {"index-pattern", "visualization", "dashboard"}
    for o in objs:
        assert o["id"] and isinstance(o["attributes"], dict) and isinstance(o["references"], list)
    ids = [(o["type"], o["id"]) for o in objs]
    assert len(ids) == len(set(ids))


def test_data_views_for_metrics_results_jobs_changepoints_and_pool_events():
    dvs = {o["attributes"]["title"]: o for o in _objects() if o["type"] == "index-pattern"}
    assert set(dvs) == {"benchfarm-metrics", "benchfarm-results", "benchfarm-jobs", "benchfarm-changepoints",
                        "benchfarm-pool-events"}
    assert all(dv["attributes"]["timeFieldName"] == "@timestamp" for dv in dvs.values())


def test_every_reference_points_to_an_object_in_the_files():
    objs = _objects()
    known = {(o["type"], o["id"]) for o in objs}
    for o in objs:
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in known, (o["id"], ref)


def test_embedded_json_parses_and_names_its_references():
    for o in _objects():
        attrs = o["attributes"]
        ref_names = {r["name"] for r in o["references"]}
        if o["type"] == "visualization":
            vis = json.loads(attrs["visState"])
            assert vis["aggs"] and vis["title"] == attrs["title"]
            search = json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
            assert search["indexRefName"] == INDEX_REF and INDEX_REF in ref_names
        if o["type"] == "dashboard":
            panels = json.loads(attrs["panelsJSON"])
            assert panels and {p["panelRefName"] for p in panels} == ref_names
            json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])


def test_the_dashboards_and_every_visualization_is_on_one():
    objs = _objects()
    titles = {o["attributes"]["title"] for o in objs if o["type"] == "dashboard"}
    assert titles == {"benchfarm: Job run", "benchfarm: Farm", "benchfarm: Benchmark trends", "benchfarm: Campaign",
                      "benchfarm: Costs"}
    on_dashboards = {r["id"] for o in objs if o["type"] == "dashboard" for r in o["references"]}
    assert on_dashboards == {o["id"] for o in objs if o["type"] == "visualization"}


def test_every_visualization_has_a_query_file_and_the_files_match_the_catalogue():
    vis_ids = {o["id"] for o in _objects() if o["type"] == "visualization"}
    files = {p.stem for p in QUERIES_DIR.glob("*.json")}
    assert vis_ids == files == {p.id for p in PANELS}
    for p in PANELS:
        assert json.loads((QUERIES_DIR / f"{p.id}.json").read_text()) == build_query(p)


def test_committed_files_are_what_the_generator_writes(tmp_path: Path):
    generate(tmp_path)
    assert (tmp_path / NDJSON_NAME).read_text() == NDJSON.read_text()
    assert [json.loads(line) for line in NDJSON.read_text().splitlines()] == saved_objects()


@pytest.mark.parametrize("p", PANELS, ids=lambda p: p.id)
def test_visualization_aggregations_mean_the_same_as_the_query(p):
    """Same fields, same metric kinds, same bucket nesting, same fixed filters (the documented mapping)."""
    vis_obj = next(o for o in _objects() if o["id"] == p.id)
    vis = json.loads(vis_obj["attributes"]["visState"])
    query = json.loads((QUERIES_DIR / f"{p.id}.json").read_text())
    kind = {"max": "max", "min": "min", "avg": "avg", "sum": "sum", "median": "percentiles"}
    metric_aggs, bucket_aggs = [a for a in vis["aggs"] if a["schema"] == "metric"], \
        [a for a in vis["aggs"] if a["schema"] != "metric"]
    # walk the query's nested buckets in the order the visualization lists them
    level = query["aggs"]
    for agg in bucket_aggs:
        (_, body), = [(k, v) for k, v in level.items() if "date_histogram" in v or "terms" in v]
        qtype = "date_histogram" if "date_histogram" in body else "terms"
        assert qtype == agg["type"] and body[qtype]["field"] == agg["params"]["field"]
        level = body.get("aggs", {})
    leaf = dict(level)
    expected = {}
    for a in metric_aggs:
        if a["type"] == "count":
            continue  # the bucket's doc_count
        field = a["params"]["field"]
        expected[field] = kind[a["type"]]
    got = {next(iter(v.values()))["field"].replace("{{metric}}", "events_per_second"): next(iter(v))
           for v in leaf.values()}
    assert got == expected
    kql = json.loads(vis_obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
    fixed = [f["term"] for f in query["query"]["bool"]["filter"] if "term" in f
             and "{{" not in json.dumps(f)]
    assert kql == " and ".join(f'{k} : "{v}"' for t in fixed for k, v in t.items())


def test_render_fills_placeholders_in_keys_and_values_and_refuses_missing_ones():
    body = {"a": "{{n}}", "m.{{metric}}": ["x-{{metric}}"]}
    assert placeholders(body) == {"n", "metric"}
    assert render(body, {"n": 3, "metric": "eps"}) == {"a": 3, "m.eps": ["x-eps"]}
    with pytest.raises(UserInputError):
        render(body, {"n": 1})


# --- the install request -------------------------------------------------------------------------
# A tiny HTTP server on 127.0.0.1 records what our client sends. This checks OUR request (path,
# query, headers, multipart body) against Kibana's documented import API; it is not a Kibana.

class _Recorder(BaseHTTPRequestHandler):
    requests: ClassVar[list] = []
    status = 200
    answer = b'{"success": true, "successCount": 14}'

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append((self.path, dict(self.headers), body))
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(type(self).answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    handler = type("Rec", (_Recorder,), {"requests": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_install_posts_multipart_ndjson_with_xsrf_header_and_overwrite(recorder):
    handler, url = recorder
    ndjson = NDJSON.read_text()
    result = install(url, ndjson, space="perf")
    assert result.success and result.success_count == 14
    (path, headers, body), = handler.requests
    assert path == "/s/perf/api/saved_objects/_import?overwrite=true"
    assert {k.lower(): v for k, v in headers.items()}["kbn-xsrf"]
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="benchfarm.ndjson"' in body
    assert ndjson.encode() in body


def test_install_in_the_default_space_and_errors_are_clear(recorder):
    handler, url = recorder
    install(url + "/", "{}\n")
    assert handler.requests[0][0] == "/api/saved_objects/_import?overwrite=true"
    handler.answer = b'{"success": false, "successCount": 1, "errors": [{"id": "x", "type": "dashboard", ' \
                     b'"error": {"type": "missing_references"}}]}'
    with pytest.raises(BenchfarmError, match="refused 1"):
        install(url, "{}\n")
    handler.status, handler.answer = 404, b"{}"
    with pytest.raises(BenchfarmError, match="404"):
        install(url, "{}\n")


def test_install_when_nothing_answers():
    with pytest.raises(ServiceUnavailableError, match="not answering"):
        install("http://127.0.0.1:9", "{}\n", timeout=2)
    with pytest.raises(UserInputError):
        install("kibana:5601", "{}\n")
