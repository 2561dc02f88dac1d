"""StoreRepository's queries and ordering, over a fake client with the EsClient read calls."""

from __future__ import annotations

from typing import Any

from benchfarm.store.repository import JobFilter, StoreRepository
from benchfarm.store.spool import Spool
from benchfarm.store.writer import StoreWriter


class FakeReads:
    def __init__(self, hits: list[dict[str, Any]]) -> None:
        self.hits = hits
        self.calls: list[tuple[str, Any]] = []

    def scan(self, index, query, sort=None, source=None):
        self.calls.append(("scan", index, query, sort, source))
        return iter({"_source": h} for h in self.hits)

    def search(self, index, body):
        self.calls.append(("search", index, body))
        return {"hits": {"hits": [{"_source": h} for h in self.hits]}}


def _repo(hits, tmp_path) -> tuple[StoreRepository, FakeReads]:
    es = FakeReads(hits)
    return StoreRepository(es, StoreWriter(es, Spool(tmp_path / "s.jsonl"), "bf")), es


def test_job_filter_terms_labels_and_since():
    q = JobFilter(status="failed", pool="gpu", labels=(("git_ref", "v1"),), since="now-7d").query()
    assert q == {"bool": {"filter": [{"term": {"status": "failed"}}, {"term": {"pool": "gpu"}},
                                     {"term": {"labels.git_ref": "v1"}},
                                     {"range": {"@timestamp": {"gte": "now-7d"}}}]}}
    assert JobFilter().query() == {"bool": {"filter": []}}


def test_results_come_back_by_repetition_with_the_summary_last(tmp_path):
    repo, es = _repo([{"doc_type": "summary"}, {"doc_type": "repetition", "repetition": 2},
                      {"doc_type": "repetition", "repetition": 0}], tmp_path)
    assert [d.get("repetition") for d in repo.results_for("j1")] == [0, 2, None]
    assert es.calls[0][1] == "bf-results"
    assert es.calls[0][2] == {"bool": {"filter": [{"term": {"job_id": "j1"}}]}}


def test_samples_are_scanned_in_time_order_from_the_metrics_stream(tmp_path):
    repo, es = _repo([{"collector": "host"}], tmp_path)
    repo.samples_for("j1", collector="gpu", source=["m"])
    (_, index, query, sort, source), = es.calls
    assert index == "bf-metrics" and sort[0] == {"@timestamp": "asc"} and source == ["m"]
    assert {"term": {"collector": "gpu"}} in query["bool"]["filter"]


def test_search_jobs_newest_first_with_the_filter_size(tmp_path):
    repo, es = _repo([{"job_id": "a"}], tmp_path)
    assert repo.search_jobs(JobFilter(size=5)) == [{"job_id": "a"}]
    (_, index, body), = es.calls
    assert index == "bf-jobs" and body["size"] == 5 and body["sort"] == [{"@timestamp": "desc"}]
