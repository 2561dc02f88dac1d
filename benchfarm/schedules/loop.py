"""The scheduler: on every tick, fire each schedule's latest due fire time once, farm-wide.

Why the farm's own loop with a Redis claim per (schedule, fire time), and not Celery beat with a lock:

- Celery beat is one process by design. Several beats fire every entry several times; making that safe
  needs a leader lock with an expiry, and then a dead leader's schedules stall until the lock times out
  (or two leaders overlap when a slow one outlives its lock). Beat also keeps its state in a local shelve
  file and reads its entries at start: schedules added at run time need a custom scheduler class (a
  third-party one such as celery-redbeat), which is most of this module again.
- A claim per fire time needs no leader. Every scheduler computes the same fire times from the same
  schedules (cron is a pure function of the clock), and ``SET benchfarm:schedule-fire:<id>:<time> NX``
  lets exactly one of them fire each time: Redis runs commands one at a time, so of any number of
  schedulers exactly one write succeeds. A scheduler that dies costs nothing: the others' next tick
  fires the next time. Any process that ticks is a scheduler: each worker's housekeeping process does
  (benchfarm.worker.service), so a farm has as many schedulers as hosts.

Rules a tick follows:

- Only the latest fire time at or before now is considered, and only if it is younger than
  ``grace_s`` and not before the schedule was made: after an outage longer than a period, the missed
  times are not replayed in a burst (cron's and Kubernetes CronJob's behaviour); one fire makes up for them.
- The claim expires after ``grace_s`` plus a day, long after its fire time left the grace window.
- Exactly once per period holds while some scheduler ticks at least once per period (the housekeeping
  ticks every 10 s, so periods shorter than that fire at most once per tick).
- A scheduler that dies between its claim and its submission loses that one fire (the claim is taken,
  nobody submits): at most once in that window, never twice.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from benchfarm.errors import BenchfarmError
from benchfarm.schedules.cron import latest_fire
from benchfarm.schedules.model import Fire, Schedule
from benchfarm.schedules.repository import ScheduleRepository

log = logging.getLogger(__name__)

#: Fires the job (or campaign) a schedule's fire time asks for; returns its id (raises BenchfarmError when
#: refused).
Submitter = Callable[[Schedule, datetime], str]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Scheduler:
    """Ticks fire due schedules; several instances over one Redis fire each time once.

    Args:
        repo: the schedules and their claims.
        submit: makes the job of one fire (the farm's JobService in production).
        name: who claims (host and process), recorded with each fire.
        grace_s: how late a fire may still happen after its time.
        clock: the time now (tests pass their own).
    """

    repo: ScheduleRepository
    submit: Submitter
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    grace_s: float = 300.0
    clock: Callable[[], datetime] = _now

    def tick(self) -> list[Fire]:
        """Fire what is due now and this scheduler won the claim for; returns those fires."""
        now = self.clock()
        fires = []
        for schedule in self.repo.list():
            due = latest_fire(schedule.cron, now)
            if due < schedule.created_at or now - due > timedelta(seconds=self.grace_s):
                continue
            if not self.repo.claim(schedule.id, due, self.name, int(self.grace_s) + 86400):
                continue
            fire = Fire(schedule_id=schedule.id, fire_at=due, scheduler=self.name)
            try:
                made = self.submit(schedule, due)
                if schedule.is_campaign:
                    fire.campaign_id = made
                else:
                    fire.job_id = made
            except BenchfarmError as exc:  # refused (unknown image, no host): recorded, not retried
                fire.error = exc.full_message()
                log.warning("schedule %s fire at %s refused: %s", schedule.id, due.isoformat(), fire.error)
            self.repo.record(fire)
            fires.append(fire)
        return fires


class JobSubmitting(Protocol):
    """What a fire submits through (benchfarm.scheduler.service.JobService)."""

    def submit(self, spec: Any, *, queue_anyway: bool = False, submitted_by: str | None = None,
               team: str | None = None, visibility: Literal["private", "public"] = "public") -> Any: ...


class CampaignCreating(Protocol):
    """What a campaign schedule's fire creates through (benchfarm.campaigns.service.CampaignService)."""

    def create(self, request: Any, *, queue_anyway: bool = False, submitted_by: str | None = None,
               team: str | None = None, visibility: Literal["private", "public"] = "public") -> Any: ...


class JobSubmitter:
    """The production :data:`Submitter`: the schedule's spec, labelled with the schedule and the fire time,
    submitted through the farm's JobService as the schedule's creator; a campaign schedule's fire creates a
    campaign (one job per target and matrix point) through the CampaignService instead.

    Args:
        jobs: benchfarm.scheduler.service.JobService.
        campaigns: benchfarm.campaigns.service.CampaignService (campaign schedules are refused without it).
    """

    def __init__(self, jobs: JobSubmitting, campaigns: CampaignCreating | None = None) -> None:
        self.jobs = jobs
        self.campaigns = campaigns

    def __call__(self, schedule: Schedule, fire_at: datetime) -> str:
        from benchfarm.schedules.model import FIRE_LABEL, SCHEDULE_LABEL
        from benchfarm.spec.loader import load_spec_data

        labels = {**(schedule.spec.get("labels") or {}), SCHEDULE_LABEL: schedule.id,
                  FIRE_LABEL: fire_at.isoformat()}
        data = {**schedule.spec, "labels": labels}
        if schedule.is_campaign:
            from benchfarm.campaigns.model import CampaignRequest
            from benchfarm.errors import ServiceUnavailableError

            if self.campaigns is None:
                raise ServiceUnavailableError("this scheduler was built without campaigns")
            request = CampaignRequest(spec=data, across=schedule.across, each_host=schedule.each_host,
                                      pool=schedule.pool, matrix=schedule.matrix)
            record = self.campaigns.create(request, submitted_by=schedule.created_by, team=schedule.team,
                                           visibility=schedule.visibility)
            return str(record.id)
        spec = load_spec_data(data, source=f"<schedule {schedule.id}>")
        job = self.jobs.submit(spec, submitted_by=schedule.created_by, team=schedule.team,
                               visibility=schedule.visibility)
        return str(job.id)
