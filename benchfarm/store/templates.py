"""Index templates with explicit mappings, installed idempotently when the store starts.

- ``<prefix>-metrics``: a data stream of collector samples (one document per
  sample), keyed by host, job, repetition and collector. Not time-series mode, on
  purpose (checked on the farm's server by tests/integration/test_store.py): TSDS
  refuses a client-chosen ``_id`` (which the spool's exactly-once replay relies
  on), refuses any sample outside its backing index's time window (samples
  replayed after a long outage would be lost), and the Elasticsearch build the
  farm runs has no data-stream management module, which is what moves a TSDS
  write window forward. It is ``logsdb`` mode instead, which takes client ids and
  any timestamp, and is what makes a sample small (bench/storage.py, issue 16):
  synthetic ``_source`` (rebuilt from doc values, not stored), the time-series
  doc-values codec, the index sorted by job, collector and time (a series' values
  sit together and delta-encode), and readings doc-values only (``index: false``:
  they are aggregated, never searched). Readings are ``float`` (about 7
  significant digits, finer than any collector reads) and the integer families
  (bytes, counts) ``long``, exact; a reading neither can hold is left out of its
  sample (``ignore_malformed``), never a refused sample.
  Changes to it raise ``METRICS_MAPPING_VERSION``: the writer rolls the data
  stream over when its write index is older, so new samples get the new mapping
  and the samples already stored keep theirs (queries span both).
- ``<prefix>-results``: one document per repetition and one summary per job,
  with provenance (host, hardware, kernel, image digest and ancestors, labels).
- ``<prefix>-jobs`` and ``<prefix>-events``: the searchable mirror of the job
  records and event streams kept in Redis.
- ``<prefix>-image-manifests``: file manifests of images, for `image diff`.
- ``<prefix>-changepoints``: change points found in a history series (benchfarm.analysis.history),
  one document per change with the series key and the jobs on either side.
- ``<prefix>-audit``: operator actions and refused API requests (who, what, outcome).

Free-form labels and metadata are ``flattened``: a label that is a number in
one run and a string in the next never breaks ingestion.  Metric values live
under ``m.*`` and are always ``double``.
"""

from __future__ import annotations

from typing import Any

KEYWORD = {"type": "keyword"}
FLAT = {"type": "flattened"}
DATE = {"type": "date"}

_NUMERIC_AS_DOUBLE = [
    {"metric_numbers": {"path_match": "m.*", "mapping": {"type": "double"}}},
]
METRICS_MAPPING_VERSION = 2  # raise it with any change to the metrics template (see the module docstring)
_READING = {"index": False, "ignore_malformed": True}
_METRIC_READINGS = [
    {"metric_integers": {"path_match": ["m.*_bytes", "m.*_current", "m.*_nr_periods", "m.*_nr_throttled"],
                         "mapping": {"type": "long", **_READING}}},
    {"metric_numbers": {"path_match": "m.*", "mapping": {"type": "float", **_READING}}},
]
_METRICS_SORT = ["job_id", "collector", "@timestamp"]


def index_names(prefix: str) -> dict[str, str]:
    return {
        "metrics": f"{prefix}-metrics",
        "results": f"{prefix}-results",
        "jobs": f"{prefix}-jobs",
        "events": f"{prefix}-events",
        "manifests": f"{prefix}-image-manifests",
        "audit": f"{prefix}-audit",
        "changepoints": f"{prefix}-changepoints",
        "pool_events": f"{prefix}-pool-events",
    }


def templates(prefix: str) -> dict[str, dict[str, Any]]:
    """Template name -> body for ``PUT _index_template``."""
    names = index_names(prefix)
    one_shard = {"number_of_shards": 1, "number_of_replicas": 0}
    return {
        names["metrics"]: {
            "index_patterns": [names["metrics"] + "*"],
            "data_stream": {},
            "priority": 200,
            "version": METRICS_MAPPING_VERSION,
            "template": {
                "settings": {**one_shard, "index.mode": "logsdb", "index.sort.field": _METRICS_SORT,
                             "index.sort.order": ["asc"] * len(_METRICS_SORT)},
                "mappings": {
                    "_meta": {"version": METRICS_MAPPING_VERSION},
                    "dynamic": "false",  # only m.* grows (as numbers), so no sample can explode the mapping
                    "dynamic_templates": _METRIC_READINGS,
                    "properties": {
                        "@timestamp": DATE, "host_id": KEYWORD, "job_id": KEYWORD, "repetition": {"type": "integer"},
                        "attempt": {"type": "short"},
                        "collector": KEYWORD, "spec_name": KEYWORD, "m": {"type": "object", "dynamic": "true"},
                    },
                },
            },
        },
        names["results"]: {
            "index_patterns": [names["results"]],
            "priority": 200,
            "template": {
                "settings": one_shard,
                "mappings": {
                    "dynamic": "false",
                    "dynamic_templates": _NUMERIC_AS_DOUBLE,
                    "properties": {
                        "@timestamp": DATE, "doc_type": KEYWORD, "job_id": KEYWORD, "spec_name": KEYWORD,
                        "repetition": {"type": "integer"}, "attempt": {"type": "short"},
                        "warmup": {"type": "boolean"}, "status": KEYWORD,
                        "exit_code": {"type": "integer"}, "oom_killed": {"type": "boolean"},
                        "duration_s": {"type": "double"}, "host_id": KEYWORD, "pool": KEYWORD,
                        "image_ref": KEYWORD, "image_digest": KEYWORD, "image_ancestors": KEYWORD,
                        "git_ref": KEYWORD, "m": {"type": "object", "dynamic": "true"},
                        "labels": FLAT, "provenance": FLAT, "hardware": FLAT, "summary": FLAT,
                    },
                },
            },
        },
        names["jobs"]: {
            "index_patterns": [names["jobs"]],
            "priority": 200,
            "template": {
                "settings": one_shard,
                "mappings": {
                    "dynamic": "false",
                    "properties": {
                        "@timestamp": DATE, "job_id": KEYWORD, "spec_name": KEYWORD, "status": KEYWORD,
                        "reason": {"type": "text", "fields": {"raw": KEYWORD}}, "host_id": KEYWORD, "pool": KEYWORD,
                        "queue": KEYWORD, "image_ref": KEYWORD, "image_digest": KEYWORD,
                        "submitted_at": DATE, "started_at": DATE, "finished_at": DATE,
                        "duration_s": {"type": "double"}, "repetitions": {"type": "integer"},
                        "attempts": {"type": "integer"}, "metrics_partial": {"type": "boolean"},
                        "labels": FLAT, "spec": FLAT,
                    },
                },
            },
        },
        names["events"]: {
            "index_patterns": [names["events"]],
            "priority": 200,
            "template": {
                "settings": one_shard,
                "mappings": {
                    "dynamic": "false",
                    "properties": {"@timestamp": DATE, "job_id": KEYWORD, "seq": {"type": "integer"},
                                   "type": KEYWORD, "source": KEYWORD, "data": FLAT},
                },
            },
        },
        names["manifests"]: {
            "index_patterns": [names["manifests"]],
            "priority": 200,
            "template": {
                "settings": one_shard,
                "mappings": {"dynamic": "false", "properties": {
                    "image_id": KEYWORD, "path": KEYWORD, "sha256": KEYWORD, "size": {"type": "long"},
                    "mode": KEYWORD, "kind": KEYWORD, "package": KEYWORD, "version": KEYWORD}},
            },
        },
        names["audit"]: {
            "index_patterns": [names["audit"]],
            "priority": 200,
            "template": {
                "settings": one_shard,
                "mappings": {"dynamic": "false", "properties": {
                    "@timestamp": DATE, "action": KEYWORD, "outcome": KEYWORD, "status": {"type": "integer"},
                    "user": KEYWORD, "team": KEYWORD, "role": KEYWORD, "target": KEYWORD,
                    "reason": {"type": "text"}, "method": KEYWORD, "path": KEYWORD, "client": KEYWORD}},
            },
        },
        names["changepoints"]: {
            "index_patterns": [names["changepoints"]],
            "priority": 200,
            "template": {
                "settings": one_shard,
                "mappings": {"dynamic": "false", "properties": {
                    "@timestamp": DATE, "detected_at": DATE, "series": KEYWORD, "spec_name": KEYWORD,
                    "metric": KEYWORD, "host_id": KEYWORD, "hardware_class": KEYWORD, "branch": KEYWORD,
                    "index": {"type": "integer"}, "before": {"type": "double"}, "after": {"type": "double"},
                    "magnitude": {"type": "double"}, "p_value": {"type": "double"},
                    "job_before": KEYWORD, "job_after": KEYWORD}},
            },
        },
        # the elastic pools' autoscaler: each decision with its reason, and host-hours and cost per host and job
        names["pool_events"]: {
            "index_patterns": [names["pool_events"]],
            "priority": 200,
            "template": {
                "settings": one_shard,
                "mappings": {"dynamic": "false", "properties": {
                    "@timestamp": DATE, "kind": KEYWORD, "action": KEYWORD, "pool": KEYWORD, "host": KEYWORD,
                    "job_id": KEYWORD, "holder": KEYWORD, "token": {"type": "long"}, "reason": {"type": "text"},
                    "replacing": KEYWORD, "hosts": {"type": "integer"}, "creating": {"type": "integer"},
                    "pending": {"type": "integer"}, "max_hosts": {"type": "integer"},
                    "spent_today": {"type": "double"}, "seconds": {"type": "double"},
                    "host_seconds": {"type": "double"}, "host_hours": {"type": "double"},
                    "cost": {"type": "double"}}},
            },
        },
    }
