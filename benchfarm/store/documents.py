"""Turning samples, repetitions, jobs and events into Elasticsearch documents."""

from __future__ import annotations

import json
import math
import platform
from datetime import UTC, datetime
from typing import Any

from benchfarm.jobs.model import DEFAULT_REPETITIONS, planned_repetitions
from benchfarm.store import ids


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def sample_action(sample: Any, index: str, spec_name: str = "") -> dict[str, Any]:
    """A bulk 'create' action for one collector sample."""
    doc = {
        "@timestamp": _iso(sample.timestamp),
        "host_id": sample.host_id,
        "job_id": sample.job_id,
        "repetition": sample.repetition,
        "attempt": sample.attempt,
        "collector": sample.collector,
        # a NaN or infinite reading is left out: Elasticsearch would refuse the whole sample for it
        "m": {k: f for k, v in sample.fields.items() if math.isfinite(f := float(v))},
    }
    if spec_name:
        doc["spec_name"] = spec_name
    return {"_op_type": "create", "_index": index,
            "_id": ids.sample_id(sample.job_id, sample.repetition, sample.collector, sample.host_id, sample.timestamp,
                                sample.attempt),
            "_source": doc}


def _provenance(job: Any) -> dict[str, Any]:
    prov = dict(job.image_provenance or {})
    labels = prov.get("labels") or {}
    ancestors = labels.get("benchfarm.ancestors")
    try:
        ancestors = json.loads(ancestors) if ancestors else []
    except ValueError:
        ancestors = [ancestors]
    return {"image": prov, "ancestors": ancestors}


def host_facts() -> dict[str, Any]:
    """Kernel and OS of the host writing the document (the worker's host)."""
    return {"kernel": platform.release(), "os": platform.platform(), "python": platform.python_version()}


def repetition_doc(job: Any, rep: Any, hardware: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """One result document per repetition, with provenance."""
    prov = _provenance(job)
    return ids.repetition_id(job.id, rep.index, max(job.attempts, 1)), {
        "@timestamp": (rep.finished_at or datetime.now(UTC)).isoformat(),
        "doc_type": "repetition",
        "job_id": job.id,
        "attempt": max(job.attempts, 1),
        "spec_name": job.name,
        "repetition": rep.index,
        "warmup": rep.warmup,
        "exit_code": rep.exit_code,
        "oom_killed": rep.oom_killed,
        "duration_s": rep.duration_s,
        "host_id": job.host_id,
        "pool": hardware.get("pool"),
        "image_ref": job.image_ref,
        "image_digest": job.image_digest,
        "image_ancestors": prov["ancestors"],
        "git_ref": str(job.labels.get("git_ref", "")) or None,
        "m": rep.metrics,
        "labels": {k: str(v) for k, v in job.labels.items()},
        "provenance": {"image_labels": prov["image"].get("labels", {}),
                       "repo_digests": prov["image"].get("repo_digests"),
                       **host_facts()},
        "hardware": hardware,
    }


def superseded_result_ids(job: Any) -> list[str]:
    """The repetition documents attempts before the job's last may have written (none after one attempt)."""
    if job.attempts <= 1:
        return []
    spec = job.spec or {}
    most = int(spec.get("warmup", 1)) + (planned_repetitions(spec) or DEFAULT_REPETITIONS)
    return ids.superseded_repetition_ids(job.id, job.attempts, most)


def job_doc(job: Any) -> tuple[str, dict[str, Any]]:
    """The searchable mirror of a job record."""
    duration = None
    if job.started_at and job.finished_at:
        duration = (job.finished_at - job.started_at).total_seconds()
    return job.id, {
        "@timestamp": job.submitted_at.isoformat(),
        "job_id": job.id,
        "spec_name": job.name,
        "status": job.status.value,
        "reason": job.reason,
        "host_id": job.host_id,
        "pool": (job.spec.get("requirements") or {}).get("pool") or "default",
        "queue": job.queue,
        "image_ref": job.image_ref,
        "image_digest": job.image_digest,
        "submitted_at": job.submitted_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "duration_s": duration,
        "repetitions": len(job.measured()),
        "attempts": job.attempts,
        "metrics_partial": job.metrics_partial,
        "labels": {k: str(v) for k, v in job.labels.items()},
        "spec": {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in job.spec.items()},
    }


def summary_doc(job: Any, hardware: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The per-job summary result: medians of each metric over measured repetitions."""
    import statistics

    measured = job.measured()
    names = sorted({m for r in measured for m in r.metrics})
    medians = {n: statistics.median([r.metrics[n] for r in measured if n in r.metrics]) for n in names}
    prov = _provenance(job)
    return ids.summary_id(job.id), {
        "@timestamp": (job.finished_at or datetime.now(UTC)).isoformat(),
        "doc_type": "summary",
        "job_id": job.id,
        "attempt": max(job.attempts, 1),
        "spec_name": job.name,
        "status": job.status.value,
        "host_id": job.host_id,
        "pool": hardware.get("pool"),
        "image_ref": job.image_ref,
        "image_digest": job.image_digest,
        "image_ancestors": prov["ancestors"],
        "git_ref": str(job.labels.get("git_ref", "")) or None,
        "m": medians,
        "labels": {k: str(v) for k, v in job.labels.items()},
        "provenance": {"image_labels": prov["image"].get("labels", {}), **host_facts()},
        "hardware": hardware,
        "summary": {"repetitions": str(len(measured)), "warnings": json.dumps(job.warnings),
                    "metrics_partial": str(job.metrics_partial)},
    }


def event_doc(event: Any) -> tuple[str, dict[str, Any]]:
    return ids.event_id(event.job_id, event.seq), {
        "@timestamp": event.at.isoformat(),
        "job_id": event.job_id,
        "seq": event.seq,
        "type": event.type.value,
        "data": {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in event.data.items()},
    }
