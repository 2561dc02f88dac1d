"""Sinks that put the farm's data into Elasticsearch through the spooling writer."""

from __future__ import annotations

from typing import Any

from benchfarm.store import documents
from benchfarm.store.writer import StoreWriter


class MetricSink:
    """The sampler's sink: each batch of samples becomes one bulk request (or one spool append)."""

    def __init__(self, writer: StoreWriter, spec_name: str = "") -> None:
        self.writer = writer
        self.spec_name = spec_name
        self.index = writer.names["metrics"]
        self.shipped = 0  # samples handed to the writer (each stored, spooled or dead-lettered, never dropped)
        self.spooled = 0
        self.dead_lettered = 0

    def ship(self, samples: list[Any]) -> None:
        outcome = self.writer.write([documents.sample_action(s, self.index, self.spec_name) for s in samples])
        self.shipped += len(samples)
        self.spooled += outcome.spooled
        self.dead_lettered += outcome.dead_lettered


class ResultSink:
    """Publishes repetitions, job summaries, job records and events."""

    def __init__(self, writer: StoreWriter, hardware: dict[str, Any]) -> None:
        self.writer = writer
        self.hardware = hardware

    def repetition(self, job: Any, rep: Any) -> None:
        self.writer.index_docs(self.writer.names["results"], [documents.repetition_doc(job, rep, self.hardware)])

    def job(self, job: Any) -> None:
        """The job's summary and record; after a re-run, the repetitions of the attempts it replaced are
        deleted, so a job's results are those of one attempt (its record in Redis keeps every attempt)."""
        results = self.writer.names["results"]
        docs = [documents.summary_doc(job, self.hardware)] if job.measured() else []
        self.writer.write(
            [{"_op_type": "delete", "_index": results, "_id": i} for i in documents.superseded_result_ids(job)]
            + [{"_op_type": "index", "_index": results, "_id": i, "_source": d} for i, d in docs]
            + [{"_op_type": "index", "_index": self.writer.names["jobs"], "_id": i, "_source": d}
               for i, d in [documents.job_doc(job)]])

    def job_record(self, job: Any) -> None:
        """The job's record in the jobs index, and the repetitions of the attempts it replaced deleted, without a
        summary: for a job another host ended (the reaper failing a job whose worker was lost), whose hardware
        is not this host's."""
        results = self.writer.names["results"]
        self.writer.write(
            [{"_op_type": "delete", "_index": results, "_id": i} for i in documents.superseded_result_ids(job)]
            + [{"_op_type": "index", "_index": self.writer.names["jobs"], "_id": i, "_source": d}
               for i, d in [documents.job_doc(job)]])

    def event(self, event: Any) -> None:
        self.writer.index_docs(self.writer.names["events"], [documents.event_doc(event)])
