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


@dataclass(frozen=True)
class JobCost:
    """What a job on an elastic pool cost: its share of its host's time (claim to end) at the pool's price,
    from the autoscaler's ``job-cost`` events (``benchfarm.elastic.autoscaler``)."""

    cost: float
    host_hours: float
    pools: tuple[str, ...]


@dataclass
class JobData:
    record: dict[str, Any]
    # collector -> field -> series
    samples: dict[str, dict[str, Series]] = field(default_factory=dict)
    sample_count: int = 0
    cost: JobCost | None = None  # None: the job ran on no elastic pool's host (or its cost is not recorded yet)

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


def fetch(job_id: str, api: ApiReader, es: SampleSearch, metrics_index: str,
          pool_events_index: str | None = None) -> JobData:
    """The job's record from the API, its samples from Elasticsearch and, with ``pool_events_index``,
    what it cost on an elastic pool.

    Raises:
        NotFoundError: no such job (from the API).
        ServiceUnavailableError: the API or Elasticsearch is not answering.
    """
    record = api.job(job_id)
    hits = list(es.scan(metrics_index, {"term": {"job_id": job_id}}, sort=[{"@timestamp": "asc"}],
                        source=["@timestamp", "collector", "m"]))  # every sample, past the 10,000-hit window
    cost = None
    if pool_events_index is not None:
        shares = list(es.scan(pool_events_index, {"bool": {"filter": [{"term": {"kind": "job-cost"}},
                                                                       {"term": {"job_id": job_id}}]}},
                              source=["cost", "host_hours", "pool"]))
        if shares:  # one per attempt that ran on an elastic pool's host
            cost = JobCost(sum(float(h["_source"].get("cost") or 0) for h in shares),
                           sum(float(h["_source"].get("host_hours") or 0) for h in shares),
                           tuple(sorted({str(h["_source"].get("pool")) for h in shares})))
    return JobData(record, group_samples(hits, _t0(record)), len(hits), cost)
