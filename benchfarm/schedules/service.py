"""Adding, listing and removing schedules, as the API does it for a caller (``/schedules``).

Why through the API: a schedule's jobs are submitted as its creator (user and team, private by
default), so who made it must come from a token the API checked, not from the OS user of whoever
can reach Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from benchfarm.campaigns.plan import checked_shape
from benchfarm.errors import UserInputError
from benchfarm.schedules.cron import next_fire, validate
from benchfarm.schedules.model import ID_PATTERN, Fire, Schedule, new_schedule_id
from benchfarm.schedules.repository import ScheduleRepository
from benchfarm.spec.model import JobSpec


class ScheduleRequest(BaseModel):
    """``POST /schedules``: a spec to submit at every fire time of ``cron`` (a campaign with targets or a matrix)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=ID_PATTERN.pattern, description="default: generated")
    cron: str = Field(description='5 cron fields in UTC ("0 2 * * *"), or 6 with seconds last')
    spec: JobSpec
    across: list[str] = Field(default_factory=list, description="campaign targets: pool:NAME or host:ID")
    each_host: bool = Field(default=False, description="campaign of one job per registered host (of pool)")
    pool: str | None = None
    matrix: dict[str, list[str]] = Field(default_factory=dict,
                                         description="campaign axes: env KEY of the spec -> values")
    visibility: Literal["private", "public"] = "private"


class ScheduleView(Schedule):
    """A schedule with its next fire time and what its latest fire did."""

    next_fire: datetime
    last_fire: Fire | None = None


class ScheduleService:
    """Schedules for API callers (the repository holds them; the workers' schedulers fire them)."""

    def __init__(self, repo: ScheduleRepository, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.repo = repo
        self.now = now

    def add(self, request: ScheduleRequest, *, created_by: str, team: str | None) -> Schedule:
        """Validate and store a schedule made by ``created_by`` of ``team``.

        Raises:
            UserInputError: a bad cron expression, target or matrix key (422).
            ConflictError: the id is taken (409).
        """
        try:
            expr = validate(request.cron)
        except ValueError as exc:
            raise UserInputError(str(exc), hint='e.g. "0 2 * * *" (every day at 02:00 UTC)') from exc
        # what a campaign fire would refuse without the farm's state is refused now, not at the first fire
        targets, matrix = checked_shape(request.spec.env, across=request.across, each_host=request.each_host,
                                        pool=request.pool, matrix=request.matrix, spec_name=request.spec.name)
        return self.repo.add(Schedule(
            id=request.id or new_schedule_id(), cron=expr, spec=request.spec.model_dump(mode="json"),
            created_at=self.now(), created_by=created_by, team=team, visibility=request.visibility,
            across=[t.label for t in targets], each_host=request.each_host, pool=request.pool, matrix=matrix))

    def views(self, visible: Callable[[Schedule], bool]) -> list[ScheduleView]:
        """The schedules ``visible`` lets through, by id."""
        last = self.repo.last_fires()
        return [self.view(s, last.get(s.id)) for s in self.repo.list() if visible(s)]

    def view(self, schedule: Schedule, last: Fire | None = None) -> ScheduleView:
        return ScheduleView(**schedule.model_dump(), next_fire=next_fire(schedule.cron, self.now()), last_fire=last)
