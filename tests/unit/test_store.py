"""The store's pure logic: document ids, sample documents, the disk spool, the writer's spool/replay/reject
rules (over a fake client with the EsClient interface) and the adapter's error table.

The real-server behaviour (mappings, data stream, exact counts after a replay) is in
tests/integration/test_store.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import elastic_transport
import pytest
from elasticsearch import ApiError

from benchfarm.adapters.elasticsearch import _translate
from benchfarm.collectors.base import Sample
from benchfarm.errors import RequestTooLargeError, ServiceUnavailableError, StoreError
from benchfarm.store import documents, ids
from benchfarm.store.sinks import MetricSink
from benchfarm.store.spool import Spool
from benchfarm.store.templates import index_names, templates
from benchfarm.store.writer import StoreCounts, StoreWriter


class FakeEs:
    """The EsClient calls the writer makes, over a dict; create answers 409 for an existing id, as ES does.

    Whole-request failures go through the adapter's own error table (``_translate``), so the writer sees
    exactly what EsClient raises for an HTTP status.
    """

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], dict[str, Any]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.down = False
        self.refuse: set[str] = set()  # ids refused with a 400 mapping error
        self.push_back: int = 0  # how many next bulk calls answer 429 for every document
        self.fail_with: list[int] = []  # statuses the next bulk requests answer as a whole, one per request
        self.item_fail_with: list[int] = []  # statuses of the next requests' documents (all of them), one per request
        self.refuse_template: int | None = None  # status put_index_template answers
        self.max_request_bytes: int | None = None  # larger bulk requests answer 413, like http.max_content_length
        self.bulk_calls = 0
        self.request_sizes: list[int] = []
        self.versions: dict[str, int] = {}  # data stream -> its write index's mapping version
        self.rollovers: list[str] = []

    def put_index_template(self, name: str, body: dict[str, Any]) -> None:
        if self.down:
            raise ServiceUnavailableError("down")
        if self.refuse_template is not None:
            with _translate("http://fake:9200", f"index template {name}"):
                raise _api_error(self.refuse_template)
        self.templates[name] = body

    def write_index_version(self, name: str) -> int | None:
        return self.versions.get(name)

    def rollover(self, name: str) -> None:
        self.rollovers.append(name)
        self.versions[name] = self.templates[name]["version"]

    def bulk(self, actions):
        actions = list(actions)
        self.bulk_calls += 1
        if self.down:
            raise ServiceUnavailableError("down")
        size = sum(len(json.dumps(a)) for a in actions)
        self.request_sizes.append(size)
        status = self.fail_with.pop(0) if self.fail_with else None
        if status is None and self.max_request_bytes is not None and size > self.max_request_bytes:
            status = 413
        if status is not None:
            with _translate("http://fake:9200", "bulk indexing"):
                raise _api_error(status)
        item_status = self.item_fail_with.pop(0) if self.item_fail_with else None
        ok, errors = 0, []
        for a in actions:
            op, key = a["_op_type"], (a["_index"], a["_id"])
            if self.push_back:
                errors.append({op: {"_id": a["_id"], "status": 429, "error": {"type": "es_rejected_execution"}}})
            elif item_status is not None:
                errors.append({op: {"_id": a["_id"], "status": item_status, "error": {"type": "internal"}}})
            elif a["_id"] in self.refuse:
                errors.append({op: {"_id": a["_id"], "status": 400, "error": {"type": "document_parsing_exception"}}})
            elif op == "delete":
                if self.docs.pop(key, None) is None:
                    errors.append({op: {"_id": a["_id"], "status": 404, "result": "not_found"}})
                else:
                    ok += 1
            elif op == "create" and key in self.docs:
                errors.append({op: {"_id": a["_id"], "status": 409, "error": {"type": "version_conflict"}}})
            else:
                self.docs[key] = a["_source"]
                ok += 1
        self.push_back = max(0, self.push_back - 1)
        return ok, errors


def _samples(n: int, t0: float = 1_700_000_000.0, job: str = "job-1") -> list[Sample]:
    return [Sample(timestamp=t0 + i * 0.1, collector="host", fields={"cpu_util_pct": i, "mem_used_bytes": 10 * i},
                   job_id=job, repetition=i // 10, host_id="h1") for i in range(n)]


@pytest.fixture
def es() -> FakeEs:
    return FakeEs()


@pytest.fixture
def writer(es, tmp_path) -> StoreWriter:
    return StoreWriter(es, Spool(tmp_path / "spool" / "es.jsonl"), "bf", retries=2, cooldown_s=0)


def _metric_docs(es: FakeEs) -> list[dict[str, Any]]:
    return [d for (index, _), d in es.docs.items() if index == "bf-metrics"]


# ---------------------------------------------------------------- ids and documents
@pytest.mark.parametrize("change", [
    {"job_id": "job-2"}, {"repetition": 1}, {"collector": "cgroup"}, {"host_id": "h2"}, {"timestamp": 1.000001},
    {"attempt": 2},
])
def test_sample_id_is_deterministic_and_changes_with_each_key(change):
    base = {"job_id": "job-1", "repetition": 0, "collector": "host", "host_id": "h1", "timestamp": 1.0}
    assert ids.sample_id(**base) == ids.sample_id(**base)
    assert ids.sample_id(**{**base, **change}) != ids.sample_id(**base)


def test_sample_action_is_a_create_with_numbers_as_floats_under_m():
    (s,) = _samples(1, t0=1_700_000_000.25)
    a = documents.sample_action(s, "bf-metrics", "cpu-bench")
    assert a["_op_type"] == "create" and a["_index"] == "bf-metrics"
    assert a["_id"] == ids.sample_id("job-1", 0, "host", "h1", 1_700_000_000.25)
    src = a["_source"]
    assert src["@timestamp"] == "2023-11-14T22:13:20.250000+00:00"
    assert src["m"] == {"cpu_util_pct": 0.0, "mem_used_bytes": 0.0} and all(type(v) is float for v in src["m"].values())
    assert (src["job_id"], src["repetition"], src["collector"], src["host_id"], src["spec_name"]) == \
        ("job-1", 0, "host", "h1", "cpu-bench")


# ---------------------------------------------------------------- templates
def test_templates_cover_every_index_and_free_form_fields_are_flattened():
    names = index_names("bf")
    tpls = templates("bf")
    assert set(tpls) == set(names.values())
    assert tpls["bf-metrics"]["data_stream"] == {}
    for name in ("bf-results", "bf-jobs"):
        props = tpls[name]["template"]["mappings"]["properties"]
        assert props["labels"]["type"] == "flattened"
        assert tpls[name]["template"]["mappings"]["dynamic"] == "false"  # an unknown field is kept, not mapped
    results = tpls["bf-results"]["template"]["mappings"]["properties"]
    assert {results[k]["type"] for k in ("provenance", "hardware", "summary")} == {"flattened"}
    metric_tpl = tpls["bf-metrics"]["template"]["mappings"]["dynamic_templates"]
    assert [next(iter(t)) for t in metric_tpl] == ["metric_integers", "metric_numbers"]  # the catch-all last
    assert all(t[next(iter(t))]["mapping"]["index"] is False for t in metric_tpl)  # aggregated, never searched
    assert tpls["bf-metrics"]["template"]["mappings"]["_meta"]["version"] == tpls["bf-metrics"]["version"]


def test_a_metrics_stream_with_an_older_mapping_is_rolled_over_once(es, writer):
    writer.install_templates()  # no data stream yet: nothing to roll over
    assert es.rollovers == []
    es.versions["bf-metrics"] = 1
    writer.install_templates()
    writer.install_templates()
    assert es.rollovers == ["bf-metrics"] and es.versions["bf-metrics"] == es.templates["bf-metrics"]["version"]


# ---------------------------------------------------------------- spool
def test_spool_keeps_batches_in_order_and_fsyncs_each_append(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    spool = Spool(tmp_path / "a" / "s.jsonl")
    with spool.locked():
        spool.append([{"_id": "1"}, {"_id": "2"}])
        spool.append([{"_id": "3"}])
        spool.append([])  # nothing to write: no empty fsync'd line
    assert len(synced) == 2
    with spool.locked():
        assert [a["_id"] for a in spool.read()] == ["1", "2", "3"]
        spool.clear()
        assert spool.read() == [] and len(spool) == 0


def test_spool_skips_a_line_torn_by_a_crash(tmp_path):
    spool = Spool(tmp_path / "s.jsonl")
    with spool.locked():
        spool.append([{"_id": "1"}])
    with open(spool.path, "a") as f:
        f.write('{"_id": "2", "_sou')  # the process died mid-write: that batch was never acknowledged
    with spool.locked():
        assert [a["_id"] for a in spool.read()] == ["1"]


def test_spool_that_was_never_written_reads_empty(tmp_path):
    spool = Spool(tmp_path / "never.jsonl")
    with spool.locked():
        assert spool.read() == []
    assert len(spool) == 0


# ---------------------------------------------------------------- writer
def test_write_installs_templates_once_and_stores_the_batch(writer, es):
    assert writer.write([documents.sample_action(s, "bf-metrics") for s in _samples(5)])
    assert writer.write([documents.sample_action(s, "bf-metrics") for s in _samples(5, t0=2e9)])
    assert set(es.templates) == set(index_names("bf").values())
    assert len(_metric_docs(es)) == 10


def test_while_es_is_away_batches_go_to_the_spool_and_replay_in_order_on_the_next_write(writer, es):
    sink = MetricSink(writer)
    es.down = True
    sink.ship(_samples(30))
    sink.ship(_samples(30, t0=2e9))
    assert len(writer.spool) == 60 and writer.spooled_batches == 2 and es.docs == {}
    es.down = False
    sink.ship(_samples(10, t0=3e9))
    assert len(writer.spool) == 0
    stored = _metric_docs(es)
    assert len(stored) == 70
    stamps = [d["@timestamp"] for d in stored]  # dict keeps insertion order = the order ES received them
    assert stamps == sorted(stamps)


def test_replay_spool_returns_zero_while_away_and_the_count_once_back(writer, es):
    es.down = True
    writer.write([documents.sample_action(s, "bf-metrics") for s in _samples(25)])
    assert writer.replay_spool() == 0 and len(writer.spool) == 25
    es.down = False
    assert writer.replay_spool() == 25
    assert writer.replay_spool() == 0
    assert len(_metric_docs(es)) == 25


def test_a_replay_after_a_partial_failure_never_duplicates(writer, es):
    actions = [documents.sample_action(s, "bf-metrics") for s in _samples(40)]
    writer.write(actions[:15])  # these went in, then the connection broke before the rest were acknowledged
    with writer.spool.locked():
        writer.spool.append(actions)  # the whole batch is spooled again
    assert writer.replay_spool() == 40  # 15 answer 409: already there, counted as success
    assert len(_metric_docs(es)) == 40
    assert not writer.dead_letter.exists()


def test_push_back_is_retried_with_back_off_then_stored(writer, es):
    es.push_back = 1  # the first bulk answers 429 for everything
    assert writer.write([documents.sample_action(s, "bf-metrics") for s in _samples(5)])
    assert es.bulk_calls == 2 and len(_metric_docs(es)) == 5


def test_persistent_push_back_spools_instead_of_losing(writer, es):
    es.push_back = 10
    outcome = writer.write([documents.sample_action(s, "bf-metrics") for s in _samples(5)])
    assert not outcome and (outcome.stored, outcome.spooled) == (0, 5)
    assert len(writer.spool) == 5


def test_a_refused_document_goes_to_the_dead_letter_file_and_the_rest_is_stored(writer, es):
    actions = [documents.sample_action(s, "bf-metrics") for s in _samples(5)]
    es.refuse = {actions[2]["_id"]}
    outcome = writer.write(actions)
    assert (outcome.stored, outcome.spooled, outcome.dead_lettered) == (4, 0, 1)
    assert outcome.by_job == {"job-1": StoreCounts(dead_lettered=1)}
    assert len(_metric_docs(es)) == 4
    (line,) = writer.dead_letter.read_text().splitlines()
    kept = json.loads(line)
    assert kept["create"]["_id"] == actions[2]["_id"] and kept["create"]["status"] == 400
    assert kept["action"] == json.loads(json.dumps(actions[2]))  # the document itself, to fix and send again


def test_a_refused_document_in_the_spool_is_not_a_poison_pill(writer, es):
    actions = [documents.sample_action(s, "bf-metrics") for s in _samples(5)]
    es.refuse = {actions[0]["_id"]}
    es.down = True
    writer.write(actions)
    es.down = False
    later = [documents.sample_action(s, "bf-metrics") for s in _samples(3, t0=2e9)]
    outcome = writer.write(later)
    assert outcome.dead_lettered == 1 and outcome.stored == 3  # the replay's refused document is reported...
    assert len(writer.spool) == 0  # ...and the spool is emptied all the same
    assert len(_metric_docs(es)) == 4 + 3
    assert writer.write([documents.sample_action(s, "bf-metrics") for s in _samples(2, t0=3e9)])  # and goes on


def test_metric_sink_logs_a_refusal_and_keeps_shipping(writer, es, caplog):
    sink = MetricSink(writer)
    samples = _samples(4)
    es.refuse = {documents.sample_action(samples[1], "bf-metrics")["_id"]}
    sink.ship(samples)  # the sampler must never die of one bad document
    assert sink.shipped == 4 and sink.dead_lettered == 1 and len(_metric_docs(es)) == 3
    assert "refused" in caplog.text


def test_index_docs_upserts_with_op_type_index(writer, es):
    assert writer.index_docs("bf-jobs", [("job-1", {"status": "running"})], op_type="index")
    assert writer.index_docs("bf-jobs", [("job-1", {"status": "succeeded"})], op_type="index")
    assert es.docs[("bf-jobs", "job-1")] == {"status": "succeeded"}


# ---------------------------------------------------------------- the adapter's error table
def _api_error(status: int) -> ApiError:
    meta = elastic_transport.ApiResponseMeta(status, "1.1", elastic_transport.HttpHeaders(), 0.0, None)
    return ApiError("boom", meta, {"error": "boom"})


@pytest.mark.parametrize("exc,expected", [
    (elastic_transport.ConnectionError("refused"), ServiceUnavailableError),
    (elastic_transport.ConnectionTimeout("slow"), ServiceUnavailableError),
    (elastic_transport.TlsError("bad cert"), ServiceUnavailableError),
    (_api_error(429), ServiceUnavailableError),
    (_api_error(503), ServiceUnavailableError),
    (_api_error(400), StoreError),
    (_api_error(404), StoreError),
    (_api_error(413), RequestTooLargeError),
    (_api_error(500), ServiceUnavailableError),
    (_api_error(502), ServiceUnavailableError),
])
def test_client_errors_become_benchfarm_errors_with_a_hint_and_the_cause(exc, expected):
    with pytest.raises(expected) as err, _translate("http://127.0.0.1:1", "bulk indexing"):
        raise exc
    assert type(err.value) is expected and err.value.__cause__ is exc
    assert err.value.hint
    if expected is ServiceUnavailableError:
        assert "benchfarm stack status" in err.value.hint


def test_spool_path_from_settings_is_under_the_state_dir(tmp_path):
    from benchfarm.composition import Farm
    from benchfarm.settings import Settings

    w = Farm(Settings(state_dir=tmp_path, index_prefix="bfx")).store_writer
    assert w.spool.path == tmp_path / "spool" / "elasticsearch.jsonl" and w.names["metrics"] == "bfx-metrics"
    assert Path(w.spool.path).parent.is_dir()
    w.es.close()


def test_a_nan_or_infinite_reading_is_left_out_of_the_sample():
    s = Sample(timestamp=1.0, collector="gpu", fields={"ok": 1, "nan": float("nan"), "inf": float("inf")},
               job_id="j", repetition=0, host_id="h")
    assert documents.sample_action(s, "bf-metrics")["_source"]["m"] == {"ok": 1.0}


def test_metric_documents_map_only_the_known_keys_and_m_numbers():
    mappings = templates("bf")["bf-metrics"]["template"]["mappings"]
    assert mappings["dynamic"] == "false" and mappings["properties"]["m"]["dynamic"] == "true"


def test_during_an_outage_batches_go_straight_to_the_spool_without_retries(es, tmp_path):
    w = StoreWriter(es, Spool(tmp_path / "s.jsonl"), "bf", retries=3, cooldown_s=60)
    w.install_templates()
    es.down = True
    w.write([documents.sample_action(s, "bf-metrics") for s in _samples(3)])
    tried = es.bulk_calls
    assert tried == 3  # the retries of the first batch
    es.down = False  # back, but the writer does not ask again before the cool-down ends...
    assert w.write([documents.sample_action(s, "bf-metrics") for s in _samples(3, t0=2e9)]).spooled == 3
    assert es.bulk_calls == tried and len(w.spool) == 6
    assert w.replay_spool() == 6  # ...unless told to replay, which ends it
    assert w.write([documents.sample_action(s, "bf-metrics") for s in _samples(3, t0=3e9)])
    assert len(_metric_docs(es)) == 9


# ---------------------------------------------------------------- a new batch refused as a whole is never lost
def _actions(n: int, t0: float = 1_700_000_000.0, job: str = "job-1") -> list[dict[str, Any]]:
    return [documents.sample_action(s, "bf-metrics") for s in _samples(n, t0=t0, job=job)]


def test_a_server_error_on_a_new_batch_is_retried_with_back_off(writer, es):
    es.fail_with = [500]  # the first request: an Elasticsearch 500
    outcome = writer.write(_actions(5))
    assert outcome and outcome.stored == 5 and es.bulk_calls == 2 and len(_metric_docs(es)) == 5


def test_a_server_error_that_lasts_spools_the_batch_and_counts_it(writer, es):
    es.fail_with = [500, 500]  # every attempt (retries=2)
    outcome = writer.write(_actions(5))
    assert not outcome and (outcome.stored, outcome.spooled) == (0, 5)
    assert outcome.by_job == {"job-1": StoreCounts(spooled=5)}
    assert len(writer.spool) == 5 and _metric_docs(es) == []
    assert writer.replay_spool() == 5 and len(_metric_docs(es)) == 5


def test_a_document_answering_5xx_is_retried_not_dead_lettered(writer, es):
    es.item_fail_with = [503, 500]
    es.fail_with = []
    writer.retries = 3
    assert writer.write(_actions(4)).stored == 4 and es.bulk_calls == 3
    assert not writer.dead_letter.exists()


def test_a_document_refused_for_the_writers_credentials_is_spooled_not_dead_lettered(writer, es):
    es.item_fail_with = [403] * 10  # security_exception: the role lacks a privilege, the document is fine
    es.fail_with = []
    writer.retries = 2
    outcome = writer.write(_actions(3))
    assert outcome.spooled == 3 and not writer.dead_letter.exists()
    es.item_fail_with = []
    assert writer.replay_spool() == 3 and len(_metric_docs(es)) == 3


def test_a_request_too_large_is_split_until_the_parts_go_through(writer, es):
    actions = _actions(40)
    es.max_request_bytes = sum(len(json.dumps(a)) for a in actions) // 5  # about 8 documents per request
    outcome = writer.write(actions)
    assert outcome.stored == 40 and len(_metric_docs(es)) == 40
    assert max(es.request_sizes[-1:]) <= es.max_request_bytes and len(es.request_sizes) > 5
    stamps = [d["@timestamp"] for d in _metric_docs(es)]
    assert stamps == sorted(stamps)  # the halves went in order


def test_a_single_document_larger_than_any_request_is_dead_lettered_the_rest_stored(writer, es):
    actions = _actions(6)
    actions[3]["_source"]["m"]["blob"] = "x" * 10_000  # type: ignore[index]
    es.max_request_bytes = 5_000
    outcome = writer.write(actions)
    assert (outcome.stored, outcome.spooled, outcome.dead_lettered) == (5, 0, 1)
    (line,) = writer.dead_letter.read_text().splitlines()
    kept = json.loads(line)
    assert kept["create"]["status"] == 413 and kept["action"]["_id"] == actions[3]["_id"]


def test_a_refused_template_spools_the_batch_instead_of_losing_it(writer, es):
    es.refuse_template = 400
    outcome = writer.write(_actions(5))
    assert not outcome and outcome.spooled == 5 and len(writer.spool) == 5 and es.bulk_calls == 0
    es.refuse_template = None  # the template fixed (or the cluster's setting that refused it)
    assert writer.replay_spool() == 5 and len(_metric_docs(es)) == 5 and len(writer.spool) == 0


def test_every_outcome_is_told_per_job(es, tmp_path):
    told: list[dict[str, StoreCounts]] = []
    w = StoreWriter(es, Spool(tmp_path / "s.jsonl"), "bf", retries=1, cooldown_s=0, on_outcome=told.append)
    assert w.write(_actions(3, job="job-a"))  # all stored: nothing to tell
    es.down = True
    w.write(_actions(2, t0=2e9, job="job-a") + _actions(1, t0=2e9, job="job-b"))
    es.down = False
    bad = _actions(2, t0=3e9, job="job-b")
    es.refuse = {bad[0]["_id"]}
    w.write(bad)
    assert told == [{"job-a": StoreCounts(spooled=2), "job-b": StoreCounts(spooled=1)},
                    {"job-b": StoreCounts(dead_lettered=1)}]


def test_a_listener_that_fails_never_loses_the_write(es, tmp_path):
    def boom(counts: dict[str, StoreCounts]) -> None:
        raise RuntimeError("redis away")

    w = StoreWriter(es, Spool(tmp_path / "s.jsonl"), "bf", retries=1, cooldown_s=0, on_outcome=boom)
    es.down = True
    assert w.write(_actions(2)).spooled == 2 and len(w.spool) == 2


def test_the_farms_writer_counts_what_it_spooled_or_dead_lettered_in_the_job_record(es, tmp_path):
    from benchfarm.composition import Farm
    from benchfarm.jobs.model import JobRecord
    from benchfarm.jobs.repository import JobRepository
    from benchfarm.settings import Settings
    from tests.support.memory_kv import MemoryKV

    farm = Farm(Settings(state_dir=tmp_path, index_prefix="bf"))
    repo = JobRepository(MemoryKV())
    farm.__dict__.update(es=es, repository=repo)  # the clients it would build, as fakes
    repo.create(JobRecord(id="job-1", spec={"name": "noop"}))
    w = farm.store_writer
    w.cooldown_s = 0
    es.down = True
    w.write(_actions(3))
    es.down = False
    bad = _actions(2, t0=2e9)
    es.refuse = {bad[1]["_id"]}
    w.write(bad + _actions(1, job="job-not-here", t0=3e9))
    job = repo.get("job-1")
    assert (job.store_spooled, job.store_dead_lettered) == (3, 1)


def _job(attempts: int, reps: int) -> Any:
    from datetime import UTC, datetime

    from benchfarm.jobs.model import JobRecord, JobStatus, RepetitionRecord

    now = datetime.now(UTC)
    return JobRecord(id="job-9", spec={"name": "j", "image": "x", "warmup": 1, "repetitions": 3},
                     image_ref="x", image_digest="sha256:" + "a" * 64, queue="pool.default",
                     status=JobStatus.SUCCEEDED, attempts=attempts, started_at=now, finished_at=now,
                     repetitions=[RepetitionRecord(index=i, warmup=i == 0, exit_code=0, metrics={"v": 1.0},
                                             started_at=now, finished_at=now) for i in range(reps)])


def test_a_re_run_writes_new_result_ids_and_deletes_the_replaced_attempts_results(writer, es):
    from benchfarm.store.sinks import ResultSink

    sink = ResultSink(writer, {"pool": "default"})
    first = _job(attempts=1, reps=3)
    for rep in first.repetitions:  # attempt 1 published three repetitions, then its host died
        sink.repetition(first, rep)
    second = _job(attempts=2, reps=4)
    for rep in second.repetitions:
        sink.repetition(second, rep)
    sink.job(second)
    results = {i: d for (index, i), d in es.docs.items() if index == "bf-results"}
    reps = sorted(i for i, d in results.items() if d["doc_type"] == "repetition")
    assert reps == [f"job-9-a2-r{i}" for i in range(4)]
    assert {d["attempt"] for d in results.values()} == {2}
    assert not writer.dead_letter.exists()  # ids attempt 1 never wrote answer 404: nothing to keep


def test_a_single_attempt_deletes_nothing() -> None:
    assert documents.superseded_result_ids(_job(attempts=1, reps=2)) == []
    assert len(documents.superseded_result_ids(_job(attempts=3, reps=2))) == 2 * (1 + 3)
