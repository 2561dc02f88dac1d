"""`benchfarm history --changes` against the real Elasticsearch: a planted step is found and stored."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from benchfarm.adapters.elasticsearch import EsClient
from benchfarm.cli.main import main
from benchfarm.store.templates import index_names

pytestmark = pytest.mark.integration


@pytest.fixture
def es(farm, settings):
    client = EsClient.from_settings(settings)
    yield client
    client.close()


def test_history_finds_and_stores_a_planted_change(es, settings, capsys):
    names = index_names(settings.index_prefix)
    spec = f"history-test-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(11)
    values = np.concatenate([np.full(25, 100.0), np.full(25, 108.0)]) + rng.normal(0, 0.8, 50)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    actions = [{"_op_type": "index", "_index": names["results"], "_id": f"{spec}-{i}", "_source": {
        "@timestamp": (t0 + timedelta(hours=i)).isoformat(), "doc_type": "summary", "job_id": f"{spec}-job{i:02d}",
        "spec_name": spec, "status": "succeeded", "host_id": "history-host", "m": {"ops_per_s": float(v)},
        "labels": {"git_branch": "main"}, "hardware": {"class": "test cpu"}}} for i, v in enumerate(values)]
    try:
        ok, errors = es.bulk(actions)
        assert ok == 50 and not errors
        es.refresh(names["results"])
        rc = main(["history", spec, "ops_per_s", "--class", "test cpu", "--branch", "main", "--changes", "--json"])
        data = json.loads(capsys.readouterr().out)
        assert rc == 0
        assert len(data["points"]) == 50
        (change,) = data["changes"]
        assert change["index"] == 25
        assert (change["job_before"], change["job_after"]) == (f"{spec}-job24", f"{spec}-job25")
        es.refresh(names["changepoints"])
        stored = [h["_source"] for h in es.scan(names["changepoints"], {"term": {"spec_name": spec}})]
        assert [(d["job_after"], d["series"]) for d in stored] == [(f"{spec}-job25", data["series"])]
        assert stored[0]["magnitude"] == pytest.approx(0.08, abs=0.02)
    finally:  # this server has no _delete_by_query (no reindex module): delete what was made by id
        es.refresh(names["changepoints"])
        made = [{"_op_type": "delete", "_index": a["_index"], "_id": a["_id"]} for a in actions]
        made += [{"_op_type": "delete", "_index": names["changepoints"], "_id": h["_id"]}
                 for h in es.scan(names["changepoints"], {"term": {"spec_name": spec}})]
        es.bulk(made)
