"""The job record: what was asked (the spec), where and what ran, and what came out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

MAX_LOG_BYTES = 64 * 1024


def now() -> datetime:
    return datetime.now(UTC)


def new_job_id() -> str:
    """A sortable, unique job id: job-<utc timestamp>-<random>."""
    return f"job-{now().strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"


class JobStatus(StrEnum):
    SUBMITTED = "submitted"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class EventType(StrEnum):
    SUBMITTED = "submitted"
    QUEUED = "queued"
    STARTED = "started"
    REPETITION_FINISHED = "repetition_finished"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REQUEUED = "requeued"
    WARNING = "warning"
    CONTAINER_EVENT = "container_event"


class RepetitionRecord(BaseModel):
    """One run of the benchmark container."""

    index: int  # 0-based over all runs, warm-ups first
    warmup: bool = False
    container_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    timed_out: bool = False
    logs: str = ""  # bounded to MAX_LOG_BYTES, tail kept
    logs_truncated: bool = False
    results_cut: list[str] = Field(default_factory=list)  # results files cut short at the runner's cap
    metrics: dict[str, float] = Field(default_factory=dict)
    error: str | None = None
    sampler_cpu_seconds: float | None = None
    samples_taken: int | None = None  # collector samples taken during this repetition (all reach the store)
    container_cpu_seconds: float | None = None
    # seconds of each step of the farm's own work around this container (RunOutcome.phases, plus collectors_stop
    # and parse): where a short job's overhead goes
    phases: dict[str, float] = Field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


#: ``repetitions`` of a spec that gives none (benchfarm.spec.model.JobSpec's default)
DEFAULT_REPETITIONS = 5


def planned_repetitions(spec: dict[str, Any]) -> int | None:
    """The most measured repetitions of a stored spec: ``adaptive.max_repetitions`` when adaptive (it may stop
    sooner), else ``repetitions``; None when the record does not say."""
    adaptive = spec.get("adaptive") or {}
    total = adaptive.get("max_repetitions") or spec.get("repetitions")
    return int(total) if total is not None else None


class JobRecord(BaseModel):
    """Everything the farm knows about one job, stored durably at submit."""

    id: str
    spec: dict[str, Any]  # the validated JobSpec, as submitted (model_dump)
    status: JobStatus = JobStatus.SUBMITTED
    reason: str | None = None
    image_ref: str = ""
    image_digest: str | None = None  # the engine's content-addressed id actually run
    # <registry>/<name>@sha256:... in the farm registry: how a host without the image pulls it (None: the
    # job may only run on the machine that resolved it, or its image was never pushed)
    image_pull_ref: str | None = None
    image_provenance: dict[str, Any] = Field(default_factory=dict)
    queue: str | None = None
    host_id: str | None = None
    worker_id: str | None = None
    attempts: int = 0
    submitted_at: datetime = Field(default_factory=now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_until: float | None = None  # epoch seconds; a running job's worker renews it
    cancel_requested: bool = False
    repetitions: list[RepetitionRecord] = Field(default_factory=list)
    metrics_partial: bool = False
    # the job's documents (samples, results, events) that took the long way to Elasticsearch: spooled while it
    # was away or failing (delayed, stored at a replay) and dead-lettered (refused as invalid, kept in a file)
    store_spooled: int = 0
    store_dead_lettered: int = 0
    warnings: list[str] = Field(default_factory=list)
    labels: dict[str, Any] = Field(default_factory=dict)
    priority: int = 5
    # who submitted it (the API token's user and team) and who else may see it: records from before tokens had
    # users carry no team and count as public; the API submits private unless asked otherwise
    submitted_by: str | None = None
    team: str | None = None
    visibility: Literal["private", "public"] = "public"
    repetitions_run: int | None = None  # measured repetitions actually run (adaptive jobs stop early)
    adaptive_converged: bool | None = None  # None unless the spec asked for adaptive repetitions
    hardware_class: str | None = None  # the host's CPU model + GPU models (benchfarm.analysis.baselines)

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    def measured(self) -> list[RepetitionRecord]:
        return [r for r in self.repetitions if not r.warmup]

    @property
    def planned_repetitions(self) -> int | None:
        """The most measured repetitions the job runs (:func:`planned_repetitions` of its spec)."""
        return planned_repetitions(self.spec)

    def summary(self) -> dict[str, Any]:
        """A compact line for listings."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status.value,
            "reason": self.reason,
            "host": self.host_id,
            "queue": self.queue,
            "repetitions_done": len(self.measured()),
            "repetitions": self.planned_repetitions,
            "submitted_at": self.submitted_at.isoformat(),
        }


class JobEvent(BaseModel):
    """One entry in a job's event stream."""

    job_id: str
    seq: int = 0
    type: EventType
    at: datetime = Field(default_factory=now)
    data: dict[str, Any] = Field(default_factory=dict)
