"""The Elasticsearch store against the real server: templates, mappings, spool and exact replay."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.collectors.base import Sample
from benchfarm.settings import with_credentials
from benchfarm.store import documents
from benchfarm.store.sinks import MetricSink
from benchfarm.store.spool import Spool
from benchfarm.store.writer import StoreWriter

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def prefix(farm, settings):
    p = f"bftest-{uuid.uuid4().hex[:8]}"
    yield p
    es = EsClient.from_settings(settings)
    for suffix in ("results", "jobs", "events", "image-manifests"):
        es.delete_index(f"{p}-{suffix}")
    es.raw.options(ignore_status=[400, 404]).indices.delete_index_template(name=f"{p}-*")
    es.close()


def _writer(settings, prefix: str, tmp_path: Path, url: str | None = None) -> StoreWriter:
    es = EsClient(url or settings.effective_elasticsearch_url, request_timeout=2)
    return StoreWriter(es, Spool(tmp_path / "spool.jsonl"), prefix, retries=2)


def _samples(job_id: str, n: int, t0: float) -> list[Sample]:
    return [Sample(timestamp=t0 + i * 0.1, collector="host", fields={"cpu_util_pct": float(i % 100)},
                   job_id=job_id, repetition=i // 50, host_id="test-host") for i in range(n)]


def _count_job(es: EsClient, index: str, job_id: str) -> int:
    es.refresh(index)
    return es.count(index, {"term": {"job_id": job_id}})


def test_templates_install_twice_and_mappings_are_explicit(settings, prefix, tmp_path):
    w = _writer(settings, prefix, tmp_path)
    w.install_templates()
    w.install_templates()  # idempotent
    tpl = w.es.raw.indices.get_index_template(name=f"{prefix}-results").body["index_templates"][0]
    props = tpl["index_template"]["template"]["mappings"]["properties"]
    assert props["labels"]["type"] == "flattened" and props["image_digest"]["type"] == "keyword"


def test_a_label_that_is_a_number_then_a_string_never_breaks_ingestion(settings, prefix, tmp_path):
    w = _writer(settings, prefix, tmp_path)
    index = f"{prefix}-results"
    assert w.index_docs(index, [("a", {"job_id": "j1", "labels": {"build": 42, "flag": True}})])
    assert w.index_docs(index, [("b", {"job_id": "j2", "labels": {"build": "nightly-7", "flag": "yes"}})])
    w.es.refresh(index)
    hits = w.es.search(index, {"query": {"term": {"labels.build": "nightly-7"}}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["b"]
    assert w.es.count(index) == 2


def test_samples_round_trip_through_the_metrics_data_stream(settings, farm, tmp_path):
    w = StoreWriter(EsClient.from_settings(settings), Spool(tmp_path / "s.jsonl"), settings.index_prefix)
    job_id = f"job-test-{uuid.uuid4().hex[:8]}"
    sink = MetricSink(w, "roundtrip")
    sink.ship(_samples(job_id, 120, time.time()))
    assert _count_job(w.es, w.names["metrics"], job_id) == 120
    earlier = time.time() - 1000
    sink.ship(_samples(job_id, 120, earlier) + _samples(job_id, 120, earlier))
    assert _count_job(w.es, w.names["metrics"], job_id) == 240  # the same samples twice: stored once


def test_unreachable_elasticsearch_spools_to_disk_and_replays_exactly_once(settings, farm, tmp_path):
    """Spool while the URL is unreachable, then replay to the real server with exact counts."""
    job_id = f"job-test-{uuid.uuid4().hex[:8]}"
    away = _writer(settings, settings.index_prefix, tmp_path, url=f"http://127.0.0.1:{_closed_port()}")
    sink = MetricSink(away, "spool-test")
    t0 = time.time()
    batches = [_samples(job_id, 100, t0 + k * 100) for k in range(3)]
    for b in batches:
        sink.ship(b)  # returns normally: the batch is on disk
    assert len(away.spool) == 300 and away.spooled_batches == 3
    back = _writer(settings, settings.index_prefix, tmp_path)  # same spool file, reachable server
    assert back.replay_spool() == 300
    assert len(back.spool) == 0
    assert _count_job(back.es, back.names["metrics"], job_id) == 300
    # a partial failure replayed again (same actions re-spooled by hand) never duplicates
    back.spool.append([documents.sample_action(s, back.names["metrics"]) for s in batches[0]])
    assert back.replay_spool() == 100
    assert _count_job(back.es, back.names["metrics"], job_id) == 300


def test_repository_round_trip_jobs_results_events_and_every_sample(settings, prefix, tmp_path):
    """Job, results and events in throw-away indices; samples past the 10,000-hit window in the real stream."""
    from benchfarm.store.repository import JobFilter, StoreRepository

    w = _writer(settings, prefix, tmp_path)
    repo = StoreRepository(w.es, w)
    job_id = f"job-test-{uuid.uuid4().hex[:8]}"
    assert repo.put_job(job_id, {"@timestamp": "2026-11-23T08:00:00+00:00", "job_id": job_id, "status": "running",
                                 "pool": "default", "labels": {"git_ref": "abc"}})
    assert repo.put_job(job_id, {"@timestamp": "2026-11-23T08:00:00+00:00", "job_id": job_id,
                                 "status": "succeeded", "pool": "default", "labels": {"git_ref": "abc"}})
    assert repo.put_job("other", {"@timestamp": "2026-11-23T09:00:00+00:00", "job_id": "other",
                                  "status": "failed", "pool": "gpu"})
    reps = [(f"{job_id}-r{i}", {"job_id": job_id, "doc_type": "repetition", "repetition": i, "m": {"eps": 100.0 + i}})
            for i in (2, 0, 1)]
    assert repo.put_results([*reps, (f"{job_id}-summary", {"job_id": job_id, "doc_type": "summary"})])
    for seq in (1, 0, 1):  # the repeated event is stored once
        assert repo.add_event(f"{job_id}-e{seq}", {"job_id": job_id, "seq": seq, "type": f"t{seq}"})
    repo.refresh()
    assert repo.get_job(job_id)["status"] == "succeeded" and repo.get_job("nope") is None
    assert [d.get("repetition") for d in repo.results_for(job_id)] == [0, 1, 2, None]
    assert [d["m"]["eps"] for d in repo.results_for(job_id, "repetition")] == [100.0, 101.0, 102.0]
    assert [e["seq"] for e in repo.events_for(job_id)] == [0, 1]
    assert [j["job_id"] for j in repo.search_jobs()] == ["other", job_id]
    assert [j["job_id"] for j in repo.search_jobs(JobFilter(status="succeeded", labels=(("git_ref", "abc"),)))] \
        == [job_id]
    assert repo.search_jobs(JobFilter(pool="gpu", status="succeeded")) == []

    stream_writer = StoreWriter(EsClient.from_settings(settings), Spool(tmp_path / "m.jsonl"), settings.index_prefix)
    stream = StoreRepository(stream_writer.es, stream_writer)
    MetricSink(stream.writer).ship(_samples(job_id, 10_500, time.time() - 2000))
    stream.refresh()
    got = stream.samples_for(job_id, collector="host")
    assert len(got) == 10_500
    stamps = [s["@timestamp"] for s in got]
    assert stamps == sorted(stamps) and len(set(stamps)) == 10_500


def test_time_series_mode_refuses_what_the_spool_relies_on(settings, farm):
    """Why the metrics stream is a standard data stream: checked on the real server, in a throw-away index.

    A time-series (TSDS) index refuses a client-chosen ``_id`` (the spool's exactly-once ids) and any
    sample outside its time window (a replay after a long outage); this build has no data-stream
    management API either (no ``_data_stream`` endpoint), which is what keeps a TSDS write window moving.
    """
    from elasticsearch import ApiError

    es = EsClient.from_settings(settings)
    name = f"bftest-tsds-{uuid.uuid4().hex[:8]}"
    es.raw.indices.create(index=name, settings={
        "index.mode": "time_series", "index.routing_path": ["host_id"], "number_of_replicas": 0,
        "index.time_series.start_time": "2026-01-01T00:00:00Z", "index.time_series.end_time": "2027-01-01T00:00:00Z"},
        mappings={"properties": {"@timestamp": {"type": "date"},
                                 "host_id": {"type": "keyword", "time_series_dimension": True},
                                 "v": {"type": "double", "time_series_metric": "gauge"}}})
    try:
        doc = {"@timestamp": "2026-06-01T00:00:00Z", "host_id": "h", "v": 1.0}
        with pytest.raises(ApiError) as refused:
            es.raw.index(index=name, id="client-chosen", op_type="create", document=doc)
        assert refused.value.meta.status == 400 and "_id must be unset" in str(refused.value)
        with pytest.raises(ApiError) as too_old:
            es.raw.index(index=name, op_type="create", document={**doc, "@timestamp": "2025-06-01T00:00:00Z"})
        assert too_old.value.meta.status == 400
    finally:
        es.delete_index(name)
    with pytest.raises(ApiError) as no_api:
        es.raw.indices.get_data_stream(name="*")
    assert no_api.value.meta.status in (400, 404, 405)  # no data-stream API on this build
    es.close()


def test_metric_mapping_grows_only_under_m_as_float_or_exact_long(settings, farm):
    """The metrics template's mappings on a throw-away plain index (a data stream cannot be deleted here)."""
    from benchfarm.store.templates import templates

    es = EsClient.from_settings(settings)
    name = f"bftest-metrics-{uuid.uuid4().hex[:8]}"
    body = templates("bftest")["bftest-metrics"]["template"]
    es.raw.indices.create(index=name, settings=body["settings"], mappings=body["mappings"])
    try:
        (s,) = _samples("job-map", 1, time.time())
        s.fields = {"new_counter": 7, "ratio": 0.5, "rss_bytes": 2**40 + 1, "huge_bytes": 2.0**70}
        action = documents.sample_action(s, name)
        action["_source"]["surprise"] = "a field no collector declares"
        assert es.bulk([action]) == (1, [])  # a reading a long cannot hold is left out, not the sample refused
        props = es.raw.indices.get_mapping(index=name)[name]["mappings"]["properties"]
        assert {k: v["type"] for k, v in props["m"]["properties"].items()} == {
            "new_counter": "float", "ratio": "float", "rss_bytes": "long", "huge_bytes": "long"}
        assert "surprise" not in props  # kept in _source, never mapped
        es.refresh(name)
        res = es.search(name, {"size": 0, "aggs": {"mx": {"max": {"field": "m.new_counter"}},
                                                    "rss": {"max": {"field": "m.rss_bytes"}}}})
        assert res["aggregations"]["mx"]["value"] == 7.0
        assert res["aggregations"]["rss"]["value"] == float(2**40 + 1)  # integer families are exact
    finally:
        es.delete_index(name)
        es.close()


class _BodyLimitProxy(ThreadingHTTPServer):
    """Forwards to Elasticsearch, answering 413 for a request body over ``limit`` bytes (nginx's
    ``client_max_body_size``, or Elasticsearch's own ``http.max_content_length``)."""

    daemon_threads = True

    def __init__(self, upstream: str, limit: int) -> None:
        super().__init__(("127.0.0.1", 0), _ForwardOrRefuse)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 9200)
        self.limit = limit
        self.refused = 0
        self.forwarded = 0


class _ForwardOrRefuse(BaseHTTPRequestHandler):
    server: _BodyLimitProxy

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if len(body) > self.server.limit:
            self.server.refused += 1
            page = b"<html><head><title>413 Request Entity Too Large</title></head></html>"
            self.send_response(413)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        self.server.forwarded += 1
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _body_limit_proxy(upstream: str, limit: int) -> Iterator[_BodyLimitProxy]:
    proxy = _BodyLimitProxy(upstream, limit)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_a_request_too_large_is_split_and_every_document_reaches_the_real_server(settings, farm, tmp_path):
    """413 on the real client and server. ``http.max_content_length`` is a static setting of the shared
    server (100 MB, and the client's helper already cuts requests there), so the 413 comes from a proxy
    in front of it refusing bodies over 20 kB, as an nginx before a cluster does; the documents are
    stored by the real server and counted there."""
    job_id = f"job-test-{uuid.uuid4().hex[:8]}"
    with _body_limit_proxy(settings.effective_elasticsearch_url, limit=20_000) as proxy:
        host, port = proxy.server_address[:2]
        w = StoreWriter(EsClient(with_credentials(f"http://{host}:{port}", settings.elasticsearch_credentials()),
                                 request_timeout=10), Spool(tmp_path / "s.jsonl"),
                        settings.index_prefix, retries=2)
        actions = [documents.sample_action(s, w.names["metrics"]) for s in _samples(job_id, 500, time.time())]
        outcome = w.write(actions)
        assert (outcome.stored, outcome.spooled, outcome.dead_lettered) == (500, 0, 0)
        assert proxy.refused >= 1 and len(w.spool) == 0 and not w.dead_letter.exists()
        w.es.close()
    es = EsClient.from_settings(settings)
    assert _count_job(es, w.names["metrics"], job_id) == 500
    es.close()
