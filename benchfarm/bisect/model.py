"""A bisection's durable state: what is bisected, the revisions' images, the jobs it waits for, its steps."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, Field

#: Labels of the jobs a bisection submits (strings, for Elasticsearch's flattened ``labels``).
BISECT_LABEL = "benchfarm_bisect"
REVISION_LABEL = "benchfarm_revision"


class RevisionImage(BaseModel):
    """One revision and the image built from it (found by its ``org.opencontainers.image.revision`` label)."""

    revision: str
    image_ref: str
    digest: str


class Step(BaseModel):
    """One judgement of a revision, with its evidence."""

    revision: str
    side: str
    n: int
    median: float
    position: float | None = None
    p_vs_good: float | None = None
    p_vs_bad: float | None = None


class BisectState(BaseModel):
    """Everything a bisection needs to resume: kept in Redis, rewritten after every change."""

    id: str
    spec: dict[str, Any]
    metric: str
    direction: str
    revisions: list[RevisionImage]
    pending: dict[str, str] = Field(default_factory=dict, description="revision -> job id submitted, not yet read")
    jobs_submitted: list[str] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    first_bad: str | None = None
    last_good: str | None = None


def bisect_id(spec_name: str, metric: str, revisions: list[str]) -> str:
    """The same bisection (spec name, metric, ordered revisions) always gets the same id: a rerun resumes it."""
    digest = hashlib.sha256("\0".join([spec_name, metric, *revisions]).encode()).hexdigest()[:12]
    return f"bisect-{digest}"
