"""The campaign use cases behind ``/campaigns`` and ``benchfarm submit --across/--each-host/--matrix``.

Submitting: the request is expanded (:mod:`.plan`) and every job spec validated before
anything is stored; unless ``queue_anyway``, every job must have a host that can run it
(one refusal names all the targets that cannot), so a campaign never starts half-possible.
The record is stored durably, then each job is submitted through the ordinary job
service and its id written back; a job the farm still refuses then (an image gone, a host
gone) is recorded as refused with the reason and the others go on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Literal, Protocol

from benchfarm.analysis.comparison import CampaignComparison, MetricInfo, RunResult, compare_campaign
from benchfarm.campaigns.model import (
    CampaignJob,
    CampaignJobView,
    CampaignRecord,
    CampaignRequest,
    CampaignView,
    campaign_status,
    new_campaign_id,
    point_key,
)
from benchfarm.campaigns.plan import Target, checked_shape, plan_jobs, points
from benchfarm.campaigns.pricing import merge_prices
from benchfarm.campaigns.repository import CampaignRepository
from benchfarm.errors import BenchfarmError, UnsatisfiableJobError
from benchfarm.jobs.model import JobRecord, JobStatus
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.spec.loader import load_spec_data
from benchfarm.spec.model import JobSpec

#: Host statuses whose hosts an each-host campaign leaves out.
_UNUSABLE = {"quarantined", "maintenance", "retired", "bad"}


class JobSubmitter(Protocol):
    """What the campaign service asks of :class:`benchfarm.scheduler.service.JobService`."""

    def submit(self, spec: Any, *, queue_anyway: bool = False, submitted_by: str | None = None,
               team: str | None = None, visibility: Literal["private", "public"] = "public") -> JobRecord: ...

    def cancel(self, job_id: str) -> JobRecord: ...


class JobReader(Protocol):
    def get(self, job_id: str) -> JobRecord: ...


class HostSource(Protocol):
    def hosts(self) -> list[HostCapabilities]: ...


HardwareOf = Callable[[JobRecord], "str | None"]


class CampaignService:
    """Create, inspect, cancel and compare campaigns.

    Args:
        campaigns: the campaign records.
        jobs: submits and cancels the campaign's jobs.
        job_records: reads them (the job repository).
        hosts: the registered hosts (targets of an each-host campaign, feasibility checks).
        hardware_of: a job's hardware class (the stored one, else its host's now).
        defined_prices: pool -> USD per host-hour from the pools' definitions (read on each comparison).
    """

    def __init__(self, campaigns: CampaignRepository, jobs: JobSubmitter, job_records: JobReader,
                 hosts: HostSource, *, hardware_of: HardwareOf = lambda job: job.hardware_class,
                 defined_prices: Callable[[], dict[str, float]] = dict) -> None:
        self.campaigns = campaigns
        self.jobs = jobs
        self.job_records = job_records
        self.hosts = hosts
        self.hardware_of = hardware_of
        self.defined_prices = defined_prices

    # ---------------------------------------------------------------- create
    def targets(self, request: CampaignRequest) -> list[Target]:
        """The request's targets: its ``across`` list, or every usable host (of ``pool``) for ``each_host``.

        Raises:
            UserInputError: both or an empty each-host set, or a malformed target.
        """
        across, _ = checked_shape({}, across=request.across, each_host=request.each_host, pool=request.pool,
                                  matrix={}, spec_name="")
        if not request.each_host:
            return across
        hosts = sorted((h for h in self.hosts.hosts() if h.status not in _UNUSABLE
                        and (request.pool is None or h.pool == request.pool)), key=lambda h: h.host_id)
        if not hosts:
            where = f" in pool {request.pool}" if request.pool else ""
            raise UnsatisfiableJobError(f"no usable registered host{where}",
                                        hint="list hosts with `benchfarm hosts list`")
        return [Target("host", h.host_id, h.pool) for h in hosts]

    def create(self, request: CampaignRequest, *, queue_anyway: bool = False, submitted_by: str | None = None,
               team: str | None = None, visibility: Literal["private", "public"] = "public") -> CampaignRecord:
        """Plan, check, store and submit a campaign; returns its record with each job's id (or refusal).

        Raises:
            SpecError: the spec, or one of its expansions, is invalid.
            UserInputError: bad targets or matrix, a matrix key the spec has no env for, too many jobs.
            UnsatisfiableJobError: some (target, point) has no host that can run it (unless ``queue_anyway``).
        """
        base = load_spec_data(request.spec, source="<campaign spec>")
        _, matrix = checked_shape(base.env, across=request.across, each_host=request.each_host, pool=request.pool,
                                  matrix=request.matrix, spec_name=base.name)
        targets = self.targets(request)
        campaign_id = new_campaign_id()
        planned = [(entry, load_spec_data(data, source=f"<campaign job {entry.target} {point_key(entry.point)}>"))
                   for entry, data in plan_jobs(base.model_dump(mode="json"), targets, matrix, campaign_id)]
        if not queue_anyway:
            self._check_feasible(planned)
        record = self.campaigns.create(CampaignRecord(
            id=campaign_id, name=base.name, spec=base.model_dump(mode="json"), targets=[t.label for t in targets],
            matrix=matrix, jobs=[entry for entry, _ in planned], submitted_by=submitted_by, team=team,
            visibility=visibility))
        for index, (_, spec) in enumerate(planned):
            try:
                job = self.jobs.submit(spec, queue_anyway=queue_anyway, submitted_by=submitted_by, team=team,
                                       visibility=visibility)
                job_id, refused = job.id, None
            except BenchfarmError as exc:
                job_id, refused = None, exc.full_message()
            record = self.campaigns.update(campaign_id, _set_job(index, job_id, refused))
        return record

    def _check_feasible(self, planned: list[tuple[CampaignJob, JobSpec]]) -> None:
        from benchfarm.scheduler.matching import match_hosts

        hosts = self.hosts.hosts()
        problems: dict[str, str] = {}
        for entry, spec in planned:
            match = match_hosts(spec, hosts)
            if not match.ok and entry.target not in problems:
                problems[entry.target] = "; ".join(match.reasons)
        if problems:
            raise UnsatisfiableJobError(
                "no registered host can run the campaign's jobs for " + "; ".join(
                    f"{target} ({why})" for target, why in problems.items()),
                hint="add hosts to those pools, drop those targets, or submit with --queue-anyway")

    # ---------------------------------------------------------------- read
    def _jobs_of(self, record: CampaignRecord) -> list[tuple[CampaignJob, JobRecord | None]]:
        return [(entry, self.job_records.get(entry.job_id) if entry.job_id else None) for entry in record.jobs]

    def view(self, record: CampaignRecord) -> CampaignView:
        """The campaign with every job's current state and the campaign's derived status."""
        views = []
        for entry, job in self._jobs_of(record):
            if job is None:
                views.append(CampaignJobView(**entry.model_dump(), status="refused" if entry.refused else "submitting",
                                             reason=entry.refused))
                continue
            views.append(CampaignJobView(**entry.model_dump(), status=job.status.value, reason=job.reason,
                                         host_id=job.host_id, hardware_class=self.hardware_of(job),
                                         repetitions_done=len(job.measured())))
        statuses = [JobStatus(v.status) for v in views if v.status not in ("refused", "submitting")]
        if any(v.status == "submitting" for v in views):
            statuses.append(JobStatus.SUBMITTED)
        return CampaignView(id=record.id, name=record.name, status=campaign_status(record, statuses),
                            submitted_at=record.submitted_at, submitted_by=record.submitted_by,
                            targets=record.targets, matrix=record.matrix,
                            counts=dict(Counter(v.status for v in views)), jobs=views)

    # ---------------------------------------------------------------- cancel
    def cancel(self, campaign_id: str) -> CampaignRecord:
        """Cancel every job of the campaign that has not finished (queued ones never start)."""
        record = self.campaigns.update(campaign_id, _request_cancel)
        for job_id in record.job_ids():
            self.jobs.cancel(job_id)
        return record

    # ---------------------------------------------------------------- compare
    def compare(self, record: CampaignRecord, *, reference: str | None = None,
                prices: dict[str, float] | None = None) -> CampaignComparison:
        """The side-by-side comparison of the campaign's finished jobs (see :mod:`benchfarm.analysis.comparison`).

        Raises:
            UserInputError: no job succeeded yet, or ``reference`` names no single group.
        """
        runs = []
        for entry, job in self._jobs_of(record):
            point = point_key(entry.point)
            if job is None:
                runs.append(RunResult(None, entry.target, entry.pool, None, point, "refused", entry.refused))
                continue
            values: dict[str, list[float]] = {}
            for rep in job.measured():
                for name, value in rep.metrics.items():
                    values.setdefault(name, []).append(value)
            runs.append(RunResult(job.id, entry.target, entry.pool, self.hardware_of(job), point, job.status.value,
                                  job.reason, job.host_id, values))
        declared = (record.spec.get("results") or {}).get("metrics") or {}
        names = list(declared) or sorted({m for r in runs for m in r.values})
        metrics = [MetricInfo(n, str((declared.get(n) or {}).get("unit") or ""),
                              str((declared.get(n) or {}).get("direction") or "higher")) for n in names]
        keys = [point_key(p) for p in points(record.matrix)]
        return compare_campaign(record.id, record.name, runs, metrics, keys,
                                prices=merge_prices(self.defined_prices(), prices or {}), reference=reference)


def _set_job(index: int, job_id: str | None, refused: str | None) -> Callable[[CampaignRecord], None]:
    def record_submission(record: CampaignRecord) -> None:
        record.jobs[index].job_id = job_id
        record.jobs[index].refused = refused

    return record_submission


def _request_cancel(record: CampaignRecord) -> None:
    record.cancel_requested = True
