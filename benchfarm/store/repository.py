"""The farm's documents in Elasticsearch, by meaning: jobs, events, results and samples.

Writes go through :class:`~benchfarm.store.writer.StoreWriter` (retries, spool, exactly-once ids);
reads go to the server directly. Redis stays the system of record for job state
(benchfarm.jobs.repository); these indices are its searchable mirror and the home of the
measurements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchfarm.store.templates import index_names
from benchfarm.store.writer import StoreWriter

Doc = dict[str, Any]


@dataclass(frozen=True)
class JobFilter:
    """What :meth:`StoreRepository.search_jobs` matches; unset fields match everything."""

    status: str | None = None
    pool: str | None = None
    spec_name: str | None = None
    host_id: str | None = None
    image_digest: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    since: str | None = None  # ISO time or date math (``now-7d``), on @timestamp (submission)
    size: int = 100

    def query(self) -> Doc:
        terms = {"status": self.status, "pool": self.pool, "spec_name": self.spec_name, "host_id": self.host_id,
                 "image_digest": self.image_digest}
        filters: list[Doc] = [{"term": {k: v}} for k, v in terms.items() if v is not None]
        filters += [{"term": {f"labels.{k}": v}} for k, v in self.labels]
        if self.since:
            filters.append({"range": {"@timestamp": {"gte": self.since}}})
        return {"bool": {"filter": filters}}


class StoreRepository:
    """Helpers the runner, the API and the report use on the store's indices.

    Args:
        es: an EsClient (benchfarm.adapters.elasticsearch).
        writer: the spooling writer for writes (its prefix names the indices).
    """

    def __init__(self, es: Any, writer: StoreWriter) -> None:
        self.es = es
        self.writer = writer
        self.names = index_names(writer.prefix)

    # ---------------------------------------------------------------- writes (durable: spooled if ES is away)
    def put_job(self, job_id: str, doc: Doc) -> bool:
        """Create or replace the job's document. Returns False if it was spooled (a refused one is dead-lettered)."""
        return self.writer.index_docs(self.names["jobs"], [(job_id, doc)], op_type="index").delivered

    def add_event(self, event_id: str, doc: Doc) -> bool:
        """Add one event exactly once (a repeat of the same id is a no-op)."""
        return self.writer.index_docs(self.names["events"], [(event_id, doc)]).delivered

    def put_results(self, docs: list[tuple[str, Doc]]) -> bool:
        """Create or replace result documents (repetitions and summaries) by id."""
        return self.writer.index_docs(self.names["results"], docs, op_type="index").delivered

    def put_changepoints(self, docs: list[tuple[str, Doc]]) -> bool:
        """Create or replace change-point documents by id (benchfarm.analysis.history.changepoint_docs)."""
        return self.writer.index_docs(self.names["changepoints"], docs, op_type="index").delivered

    # ---------------------------------------------------------------- reads
    def job_summaries(self, query: Doc) -> list[Doc]:
        """Every job summary result matching ``query`` (a bool filter), oldest first."""
        hits = self.es.scan(self.names["results"], query, sort=[{"@timestamp": "asc"}])
        return [h["_source"] for h in hits]

    def changepoints_of(self, series: str) -> list[Doc]:
        """The stored change points of one history series (its key string), oldest first."""
        hits = self.es.scan(self.names["changepoints"], {"term": {"series": series}}, sort=[{"@timestamp": "asc"}])
        return [h["_source"] for h in hits]

    def get_job(self, job_id: str) -> Doc | None:
        """The job's document, or None when the store has none. Raises ServiceUnavailableError when away."""
        return self.es.get(self.names["jobs"], job_id)

    def results_for(self, job_id: str, doc_type: str | None = None) -> list[Doc]:
        """The job's result documents (``repetition`` ones by index, then the ``summary``)."""
        filters: list[Doc] = [{"term": {"job_id": job_id}}]
        if doc_type:
            filters.append({"term": {"doc_type": doc_type}})
        hits = self.es.scan(self.names["results"], {"bool": {"filter": filters}})
        docs = [h["_source"] for h in hits]
        return sorted(docs, key=lambda d: (d.get("doc_type") == "summary", d.get("repetition") or 0))

    def samples_for(self, job_id: str, collector: str | None = None,
                    source: list[str] | None = None) -> list[Doc]:
        """Every collector sample of the job in time order (no 10,000-hit limit)."""
        filters: list[Doc] = [{"term": {"job_id": job_id}}]
        if collector:
            filters.append({"term": {"collector": collector}})
        hits = self.es.scan(self.names["metrics"], {"bool": {"filter": filters}},
                            sort=[{"@timestamp": "asc"}, {"collector": "asc"}], source=source)
        return [h["_source"] for h in hits]

    def events_for(self, job_id: str) -> list[Doc]:
        """The job's events in sequence order."""
        hits = self.es.scan(self.names["events"], {"term": {"job_id": job_id}}, sort=[{"seq": "asc"}])
        return [h["_source"] for h in hits]

    def search_jobs(self, flt: JobFilter | None = None) -> list[Doc]:
        """Job documents matching ``flt``, newest first."""
        flt = flt or JobFilter()
        res = self.es.search(self.names["jobs"], {"query": flt.query(), "size": flt.size,
                                                  "sort": [{"@timestamp": "desc"}]})
        return [h["_source"] for h in res["hits"]["hits"]]

    def refresh(self) -> None:
        """Make every write so far visible to searches (tests and the report call this)."""
        for name in ("jobs", "events", "results", "metrics", "changepoints"):
            self.es.refresh(self.names[name])
