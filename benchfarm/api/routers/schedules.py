"""``/schedules``: recurring jobs and campaigns, made by a token's user and team.

A schedule records its creator's user and team and a visibility (private by default), and every job
it fires is submitted as that user and team with that visibility. Who sees and removes what follows
the campaigns' rules: a submit token sees its team's and public schedules and removes its team's;
operate and admin tokens reach every schedule, and their removal of another team's is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path

from benchfarm.access.tokens import Principal
from benchfarm.api.dependencies import JOB_ID_PATTERN, Authenticated, Caller, Deps
from benchfarm.api.errors import error_responses
from benchfarm.api.team_access import require_own_team_or_operator, visible_to
from benchfarm.errors import ForbiddenError, ServiceUnavailableError
from benchfarm.schedules.model import Schedule
from benchfarm.schedules.service import ScheduleRequest, ScheduleService, ScheduleView

router = APIRouter(prefix="/schedules", tags=["schedules"], dependencies=[Authenticated],
                   responses=error_responses(401, 403, 503))

ScheduleId = Annotated[str, Path(pattern=JOB_ID_PATTERN, max_length=200,
                                 description="a schedule id, e.g. sched-20261202140000-1a2b3c4d")]


def _service(d: Deps) -> ScheduleService:
    if d.schedules is None:
        raise ServiceUnavailableError("this API was built without schedules",
                                      hint="serve it with `benchfarm api serve`")
    return d.schedules


def _visible(caller: Principal) -> Callable[[Schedule], bool]:
    return lambda s: visible_to(caller, s.team, s.visibility)


@router.post("", status_code=201, response_model=ScheduleView, responses=error_responses(409, 422))
def add_schedule(d: Deps, caller: Caller, request: ScheduleRequest) -> ScheduleView:
    """Add a schedule; its jobs are submitted as the caller's user and team at every fire time (UTC).

    409: the id is taken; 422: an invalid spec, cron expression, target or matrix key.
    """
    service = _service(d)
    return service.view(service.add(request, created_by=caller.user, team=caller.team))


@router.get("", response_model=list[ScheduleView])
def list_schedules(d: Deps, caller: Caller) -> list[ScheduleView]:
    """Schedules the token may see, by id, with the next fire time and what the latest fire did."""
    return _service(d).views(_visible(caller))


@router.delete("/{schedule_id}", response_model=ScheduleView, responses=error_responses(404, 422))
def remove_schedule(d: Deps, caller: Caller, schedule_id: ScheduleId) -> ScheduleView:
    """Remove a schedule (its team's, or any for operate and admin, audited); jobs it fired stay."""
    service = _service(d)
    schedule: Schedule = service.repo.get(schedule_id)
    if not _visible(caller)(schedule):
        raise ForbiddenError(f"schedule {schedule_id} is a private schedule of team {schedule.team}: "
                             f"{caller.user} of team {caller.team} may not remove it",
                             hint="use a token of that team, or ask an operator")
    require_own_team_or_operator(d.audit, caller, kind="schedule", item_id=schedule_id, team=schedule.team,
                                 verb="remove", action="schedules.remove", path=f"/schedules/{schedule_id}")
    return service.view(service.repo.remove(schedule_id))
