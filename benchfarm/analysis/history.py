"""A benchmark's history: per-job medians of one metric over time, for one series key.

A series is keyed by (benchmark name, metric, host or hardware class, branch label): results from
different hardware or branches are not one history, and mixing them would plant false change points.
The points are the job summaries (``doc_type: summary``, whose ``m.*`` are the medians of the
measured repetitions) of succeeded jobs, oldest first. Change points (benchfarm.analysis.changepoints)
become documents with the key and the jobs on either side; their id is derived from the key and the
job after the change, so detecting again replaces rather than duplicates them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from benchfarm.analysis.changepoints import ChangePoint

BRANCH_LABEL = "git_branch"


@dataclass(frozen=True)
class SeriesKey:
    """What one history is about; ``host_id`` and ``hardware_class`` are exclusive (or both unset)."""

    spec_name: str
    metric: str
    host_id: str | None = None
    hardware_class: str | None = None
    branch: str | None = None

    def __post_init__(self) -> None:
        if self.host_id and self.hardware_class:
            raise ValueError("give a host or a hardware class, not both")

    def name(self) -> str:
        """The key as one string (stored as ``series`` on change points)."""
        where = f"host={self.host_id}" if self.host_id else f"class={self.hardware_class}" \
            if self.hardware_class else "any"
        return f"{self.spec_name}|{self.metric}|{where}|branch={self.branch or '*'}"

    def query(self) -> dict[str, Any]:
        """The Elasticsearch filter for the job summaries of this series."""
        filters: list[dict[str, Any]] = [
            {"term": {"doc_type": "summary"}}, {"term": {"spec_name": self.spec_name}},
            {"term": {"status": "succeeded"}}, {"exists": {"field": f"m.{self.metric}"}}]
        if self.host_id:
            filters.append({"term": {"host_id": self.host_id}})
        if self.hardware_class:
            filters.append({"term": {"hardware.class": self.hardware_class}})
        if self.branch:
            filters.append({"term": {f"labels.{BRANCH_LABEL}": self.branch}})
        return {"bool": {"filter": filters}}


@dataclass(frozen=True)
class HistoryPoint:
    """One job in a series: when it finished, its id and its median of the metric."""

    at: str
    job_id: str
    value: float
    git_ref: str | None = None


def build_series(summaries: list[dict[str, Any]], metric: str) -> list[HistoryPoint]:
    """The series of ``metric`` from job summary documents: oldest first, one point per job.

    Documents without the metric or with a non-numeric or non-finite value are skipped; a job seen twice
    keeps its latest document.
    """
    by_job: dict[str, HistoryPoint] = {}
    for doc in summaries:
        raw = (doc.get("m") or {}).get(metric)
        try:
            value = float(raw)  # type: ignore[arg-type]  # None and strings are what the except is for
        except (TypeError, ValueError):
            continue
        if not math.isfinite(value) or not doc.get("job_id"):
            continue
        point = HistoryPoint(str(doc.get("@timestamp", "")), str(doc["job_id"]), value, doc.get("git_ref"))
        old = by_job.get(point.job_id)
        if old is None or point.at >= old.at:
            by_job[point.job_id] = point
    return sorted(by_job.values(), key=lambda p: (p.at, p.job_id))


def changepoint_id(key: SeriesKey, job_after: str) -> str:
    """A stable document id for a change point of ``key`` whose new level starts at ``job_after``."""
    return hashlib.sha256(f"{key.name()}\0{job_after}".encode()).hexdigest()[:32]


def changepoint_docs(key: SeriesKey, series: list[HistoryPoint], points: list[ChangePoint],
                     detected_at: datetime | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Change-point documents (id, body) for the changepoints index."""
    when = (detected_at or datetime.now(UTC)).isoformat()
    docs = []
    for c in points:
        before, after = series[c.index - 1], series[c.index]
        docs.append((changepoint_id(key, after.job_id), {
            "@timestamp": after.at, "detected_at": when, "series": key.name(), "spec_name": key.spec_name,
            "metric": key.metric, "host_id": key.host_id, "hardware_class": key.hardware_class,
            "branch": key.branch, "index": c.index, "before": c.before, "after": c.after,
            "magnitude": c.magnitude if math.isfinite(c.magnitude) else None, "p_value": c.p_value,
            "job_before": before.job_id, "job_after": after.job_id}))
    return docs


def as_dict(point: HistoryPoint) -> dict[str, Any]:
    """A point for JSON output."""
    return asdict(point)
