"""A planted history for the history, report and dashboard tests: 50 job summaries of one benchmark whose
median steps from 100 to 108 at job 25, written to the real Elasticsearch and deleted afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from benchfarm.store.templates import index_names, templates

STEP_AT = 25
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PlantedHistory:
    spec: str
    values: list[float]

    def job(self, i: int) -> str:
        return f"{self.spec}-job{i:02d}"

    def at(self, i: int) -> datetime:
        return T0 + timedelta(hours=i)


@contextlib.contextmanager
def planted_history(es, prefix: str, name_prefix: str = "history-test") -> Iterator[PlantedHistory]:
    """Write the summaries (class "test cpu", branch main), yield, then delete them and every change point
    stored for the benchmark (this server has no _delete_by_query: deleted by id)."""
    names = index_names(prefix)
    for template, body in templates(prefix).items():  # as the farm's writer does first: on a fresh server a
        es.put_index_template(template, body)         # write before it would create the index untyped
    spec = f"{name_prefix}-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(11)
    values = np.concatenate([np.full(STEP_AT, 100.0), np.full(50 - STEP_AT, 108.0)]) + rng.normal(0, 0.8, 50)
    planted = PlantedHistory(spec, [float(v) for v in values])
    actions = [{"_op_type": "index", "_index": names["results"], "_id": f"{spec}-{i}", "_source": {
        "@timestamp": planted.at(i).isoformat(), "doc_type": "summary", "job_id": planted.job(i),
        "spec_name": spec, "status": "succeeded", "host_id": "history-host", "m": {"ops_per_s": v},
        "labels": {"git_branch": "main"}, "hardware": {"class": "test cpu"}, "git_ref": f"ref{i:02d}"}}
        for i, v in enumerate(planted.values)]
    try:
        ok, errors = es.bulk(actions)
        assert ok == len(actions) and not errors
        es.refresh(names["results"])
        yield planted
    finally:
        es.refresh(names["changepoints"])
        made = [{"_op_type": "delete", "_index": a["_index"], "_id": a["_id"]} for a in actions]
        made += [{"_op_type": "delete", "_index": names["changepoints"], "_id": h["_id"]}
                 for h in es.scan(names["changepoints"], {"term": {"spec_name": spec}})]
        es.bulk(made)
