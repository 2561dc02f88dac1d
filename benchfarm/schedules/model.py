"""A schedule: a job spec, a cron expression, who made it; and what its latest fire did."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

#: Labels every scheduled job carries (strings, so Elasticsearch's flattened ``labels`` can group them).
SCHEDULE_LABEL = "benchfarm_schedule"
FIRE_LABEL = "benchfarm_fire_time"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


def new_schedule_id() -> str:
    """A sortable, unique id: sched-<utc timestamp>-<random>."""
    return f"sched-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"


class Schedule(BaseModel):
    """A recurring job, stored durably in Redis."""

    id: str
    cron: str = Field(description="5 cron fields (UTC), or 6 with seconds last")
    spec: dict[str, Any] = Field(description="the job spec, validated when the schedule was added")
    created_at: datetime
    created_by: str | None = None
    team: str | None = None
    visibility: Literal["private", "public"] = "private"
    # a campaign schedule (`schedule add --across/--each-host/--matrix`): each fire creates a campaign
    across: list[str] = Field(default_factory=list, description="campaign targets: pool:NAME or host:ID")
    each_host: bool = False
    pool: str | None = None
    matrix: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def is_campaign(self) -> bool:
        return bool(self.across or self.each_host or self.matrix)


class Fire(BaseModel):
    """One fire of a schedule: its fire time, the scheduler that claimed it, and the job (or campaign) or the
    refusal."""

    schedule_id: str
    fire_at: datetime
    scheduler: str
    job_id: str | None = None
    campaign_id: str | None = None
    error: str | None = None
