"""The API's request and response bodies that are not domain models already.

Domain models (``JobSpec``, ``JobRecord``, ``JobEvent``, ``HostCapabilities``) are served
as they are; these add the API's own shapes, so the OpenAPI document says what each route
answers and schema-valid requests are the ones the farm accepts (an ``action`` is ``die``
or ``oom``, a host ``status`` one of the host state machine's).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from benchfarm.inventory.host_states import HostStatus
from benchfarm.jobs.model import JobStatus
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.scheduler.service import MAX_BULK_JOBS
from benchfarm.spec.model import JobSpec

NonEmptyStr = Annotated[str, Field(min_length=1)]


# ---------------------------------------------------------------------------- jobs
class JobAccepted(BaseModel):
    """``POST /jobs``: the job is stored durably and queued."""

    id: str
    status: JobStatus
    queue: str | None
    image_digest: str | None = Field(description="the engine's id of the image the job will run (pinned at submit)")


class BulkSubmit(BaseModel):
    """``POST /jobs:bulk``: many job specs at once (a CI burst), all accepted or none."""

    # documented as job specs; SkipValidation leaves each as its JSON object for the spec loader, whose
    # messages name the field (as POST /jobs does)
    jobs: list[Annotated[JobSpec, SkipValidation]] = Field(min_length=1, max_length=MAX_BULK_JOBS,
                                       description="job specs (each as `POST /jobs` takes it; `benchfarm spec "
                                                   "schema` prints the schema)")


class BulkAccepted(BaseModel):
    """``POST /jobs:bulk``: every job is stored durably and queued, in the order of the request."""

    jobs: list[JobAccepted]


class JobSummary(BaseModel):
    """One line of ``GET /jobs``."""

    id: str
    name: str
    status: JobStatus
    reason: str | None
    host: str | None
    queue: str | None
    repetitions_done: int = Field(description="measured repetitions finished")
    repetitions: int | None = Field(description="measured repetitions asked for")
    submitted_at: datetime


class CancelResult(BaseModel):
    """``DELETE /jobs/{job_id}``: the job's status after the request."""

    id: str
    status: JobStatus
    cancel_requested: bool = Field(description="true once cancelled: a running job's worker stops its container")


class VerdictBody(BaseModel):
    """``GET /jobs/{job_id}/compare`` (the shape ``benchfarm compare --json`` prints)."""

    model_config = ConfigDict(extra="allow")

    job_id: str
    name: str
    baseline_ref: str
    baseline_id: str
    rerun_id: str | None
    regressed: bool
    exit_code: int
    needs_confirmation: bool
    metrics: list[dict[str, Any]] = Field(description="per metric: ratio of medians, 95% CI, p-value, verdict")
    skipped: dict[str, str] = Field(description="metrics not compared -> why")


# ---------------------------------------------------------------------------- hosts
class HostView(HostCapabilities):
    """``GET /hosts``: a registered host with its liveness."""

    last_seen_s_ago: float | None = Field(description="seconds since its last heartbeat (null: never)")
    alive: bool = Field(description="a heartbeat within the registry's stale limit")


# ---------------------------------------------------------------------------- meta
class Health(BaseModel):
    """``GET /healthz``."""

    status: Literal["ok", "degraded"]
    redis: bool = Field(description="whether Redis (where jobs live) answers")
    version: str
    error: str | None = None


# ---------------------------------------------------------------------------- internal (Salt side)
class ContainerEvent(BaseModel):
    """A benchmark container died non-zero or by OOM (reported by its host's Salt minion)."""

    host_id: NonEmptyStr
    container_id: NonEmptyStr
    container_name: str | None = None
    job_id: NonEmptyStr
    repetition: str | None = None
    action: Literal["die", "oom"]
    exit_code: int | None = None
    oom_killed: bool | None = None
    time: float | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    source: Literal["stream", "reconcile"] = Field(
        default="stream", description="reconcile: found after the Docker event stream came back")


class ContainerEventOutcome(BaseModel):
    """What recording a container event did."""

    job_id: str
    recorded: bool = Field(description="false when already recorded or the job is already final")
    job_failed: bool = Field(description="the job was running with its worker gone, and is now failed")
    comment: str


class HostEvent(BaseModel):
    """A host registered (with capabilities) or changed status (health check, quarantine, release)."""

    host_id: NonEmptyStr
    status: HostStatus
    reason: str = ""
    checks: dict[str, Any] = Field(default_factory=dict)
    time: float | None = None
    capabilities: HostCapabilities | None = Field(
        default=None, description="registers the host; its host_id is the event's host_id")


class HostEventResult(BaseModel):
    """The host's status after the event."""

    host_id: str
    status: str
    pool: str
