"""What a report shows, fetched once: a job's record (API) and its collector samples (Elasticsearch)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ApiReader(Protocol):
    """The API calls a report makes (benchfarm.client.ApiClient)."""

    def job(self, job_id: str) -> dict[str, Any]: ...
    def get(self, path: str, **params: Any) -> Any: ...


class SampleSearch(Protocol):
    """The Elasticsearch call a report makes (benchfarm.adapters.elasticsearch.EsClient.scan)."""

    def scan(self, index: str, query: dict[str, Any], *, sort: list[dict[str, Any]] | None = None,
             source: list[str] | None = None) -> Iterator[dict[str, Any]]: ...

@dataclass
class Series:
    """One timeline: seconds since the job started -> value."""

    t: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)


@dataclass
class JobData:
    record: dict[str, Any]
    # collector -> field -> series
    samples: dict[str, dict[str, Series]] = field(default_factory=dict)
    sample_count: int = 0

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def name(self) -> str:
        return str((self.record.get("spec") or {}).get("name", ""))

    def measured(self) -> list[dict[str, Any]]:
        return [r for r in self.record.get("repetitions", []) if not r.get("warmup")]

    def metric_values(self) -> dict[str, list[float]]:
        """Metric name -> values of the measured repetitions, in order."""
        values: dict[str, list[float]] = defaultdict(list)
        for rep in self.measured():
            for name, value in (rep.get("metrics") or {}).items():
                values[name].append(float(value))
        return dict(values)


def _t0(record: dict[str, Any]) -> float | None:
    ts = record.get("started_at") or record.get("submitted_at")
    return datetime.fromisoformat(ts).timestamp() if ts else None


def group_samples(hits: list[dict[str, Any]], t0: float | None) -> dict[str, dict[str, Series]]:
    """Search hits of samples -> collector -> field -> series (seconds from ``t0``)."""
    out: dict[str, dict[str, Series]] = defaultdict(lambda: defaultdict(Series))
    for hit in hits:
        src = hit["_source"]
        ts = datetime.fromisoformat(src["@timestamp"].replace("Z", "+00:00")).timestamp()
        rel = ts - t0 if t0 is not None else ts
        for name, value in (src.get("m") or {}).items():
            if value is None:
                continue
            s = out[src["collector"]][name]
            s.t.append(rel)
            s.v.append(float(value))
    return {c: dict(f) for c, f in out.items()}


def fetch(job_id: str, api: ApiReader, es: SampleSearch, metrics_index: str) -> JobData:
    """The job's record from the API and its samples from Elasticsearch.

    Raises:
        NotFoundError: no such job (from the API).
        ServiceUnavailableError: the API or Elasticsearch is not answering.
    """
    record = api.job(job_id)
    hits = list(es.scan(metrics_index, {"term": {"job_id": job_id}}, sort=[{"@timestamp": "asc"}],
                        source=["@timestamp", "collector", "m"]))  # every sample, past the 10,000-hit window
    return JobData(record, group_samples(hits, _t0(record)), len(hits))
