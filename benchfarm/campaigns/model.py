"""The campaign record: what was asked (spec, targets, matrix) and which job runs each (target, point).

A campaign's status is never stored: it is derived from its jobs' records on read
(:func:`campaign_status`), so a job finishing needs no second write and cannot leave the
two disagreeing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from benchfarm.jobs.model import JobStatus

#: Labels every job of a campaign carries (strings, so Elasticsearch's flattened ``labels`` groups them).
CAMPAIGN_LABEL = "benchfarm_campaign"
TARGET_LABEL = "benchfarm_target"
POINT_LABEL = "benchfarm_point"


def new_campaign_id() -> str:
    """A sortable, unique campaign id: camp-<utc timestamp>-<random>."""
    return f"camp-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"


def point_key(point: dict[str, str]) -> str:
    """A parameter point as one label value: ``K1=v1,K2=v2`` in matrix order (``-`` for no matrix)."""
    return ",".join(f"{k}={v}" for k, v in point.items()) or "-"


class CampaignStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # finished, some jobs failed or were refused
    FAILED = "failed"  # finished, no job succeeded
    CANCELLED = "cancelled"


class CampaignJob(BaseModel):
    """One (target, point) of a campaign and the job that runs it (None: its submission was refused)."""

    target: str = Field(description="pool:<name>, host:<id>, or 'any' (the spec's own requirements)")
    pool: str | None = None
    point: dict[str, str] = Field(default_factory=dict)
    job_id: str | None = None
    refused: str | None = Field(default=None, description="why the farm refused to submit this job")


class CampaignRecord(BaseModel):
    """Everything the farm keeps about one campaign, stored durably before its jobs are submitted."""

    id: str
    name: str
    spec: dict[str, Any]
    targets: list[str] = Field(default_factory=list)
    matrix: dict[str, list[str]] = Field(default_factory=dict)
    jobs: list[CampaignJob] = Field(default_factory=list)
    submitted_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    submitted_by: str | None = None
    team: str | None = None
    visibility: Literal["private", "public"] = "public"
    cancel_requested: bool = False

    def job_ids(self) -> list[str]:
        return [j.job_id for j in self.jobs if j.job_id]


def campaign_status(record: CampaignRecord, statuses: Iterable[JobStatus]) -> CampaignStatus:
    """The campaign's status from its jobs' statuses (one per submitted job).

    Running while any job is not final; then cancelled if a cancel was asked, succeeded
    if every planned job succeeded, failed if none did, partial otherwise.
    """
    counts = Counter(statuses)
    if any(not s.final for s in counts):
        return CampaignStatus.RUNNING
    if record.cancel_requested:
        return CampaignStatus.CANCELLED
    ok = counts.get(JobStatus.SUCCEEDED, 0)
    if ok == len(record.jobs) and ok > 0:
        return CampaignStatus.SUCCEEDED
    return CampaignStatus.FAILED if ok == 0 else CampaignStatus.PARTIAL


class CampaignRequest(BaseModel):
    """What ``POST /campaigns`` takes (``benchfarm submit SPEC --across/--each-host/--matrix`` sends it)."""

    spec: dict[str, Any] = Field(description="the job spec every job starts from (`benchfarm spec schema`)")
    across: list[str] = Field(default_factory=list, description="targets: pool:NAME or host:ID")
    each_host: bool = Field(default=False, description="one target per registered host (of `pool` if given)")
    pool: str | None = Field(default=None, description="with each_host: only this pool's hosts")
    matrix: dict[str, list[str]] = Field(default_factory=dict,
                                         description="environment variable of the spec -> values; axes multiply")


class CampaignJobView(CampaignJob):
    """A campaign's job with its current state."""

    status: str = Field(description="the job's status, or 'refused' when it was never submitted")
    reason: str | None = None
    host_id: str | None = None
    hardware_class: str | None = None
    repetitions_done: int = 0


class CampaignView(BaseModel):
    """A campaign and the state of each of its jobs (``GET /campaigns/{id}``)."""

    id: str
    name: str
    status: CampaignStatus
    submitted_at: datetime
    submitted_by: str | None = None
    targets: list[str]
    matrix: dict[str, list[str]]
    counts: dict[str, int] = Field(description="jobs per status ('refused': never submitted)")
    jobs: list[CampaignJobView]


class CampaignSummary(BaseModel):
    """One line of ``GET /campaigns``."""

    id: str
    name: str
    status: CampaignStatus
    submitted_at: datetime
    targets: list[str]
    matrix: dict[str, list[str]]
    counts: dict[str, int]
    jobs: int

    @classmethod
    def of(cls, view: CampaignView) -> CampaignSummary:
        return cls(id=view.id, name=view.name, status=view.status, submitted_at=view.submitted_at,
                   targets=view.targets, matrix=view.matrix, counts=view.counts, jobs=len(view.jobs))
