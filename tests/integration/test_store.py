"""The Elasticsearch store against the real server: templates, mappings, spool and exact replay."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import pytest

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.collectors.base import Sample
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
