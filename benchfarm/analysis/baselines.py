"""Resolve a baseline reference (see :mod:`.baseline_ref`) to one earlier job record.

- a job id: that job;
- ``label:KEY=VALUE``: the latest succeeded job of the same spec carrying that label;
- ``BRANCH@REF``: the latest succeeded job of the same spec labelled
  ``git_branch=BRANCH`` and ``git_ref=REF`` (a commit given by a prefix of 7+
  characters matches the full hash);
- ``latest``: the latest succeeded job of the same spec, on the same hardware
  class (CPU model and GPU models, see :func:`hardware_class`), submitted before
  the candidate.

The candidate itself and confirmation re-runs (label :data:`CONFIRMATION_LABEL`)
are never chosen as a baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from benchfarm.analysis.baseline_ref import BaselineRef, GitRef, JobRef, LabelRef, LatestRef
from benchfarm.errors import ConflictError, NotFoundError, UserInputError
from benchfarm.jobs.model import JobRecord, JobStatus
from benchfarm.scheduler.capabilities import HostCapabilities

#: Label put on the automatic re-run that confirms a suspected regression.
CONFIRMATION_LABEL = "benchfarm_confirmation_of"
GIT_BRANCH_LABEL = "git_branch"
GIT_REF_LABEL = "git_ref"
#: How many of the most recent jobs a search looks through.
SEARCH_LIMIT = 1000


class JobSource(Protocol):
    """What resolution reads: :class:`benchfarm.jobs.repository.JobRepository` fits."""

    def get(self, job_id: str) -> JobRecord: ...

    def list(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        label: tuple[str, str] | None = None,
        limit: int = 50,
    ) -> list[JobRecord]: ...


def hardware_class(caps: HostCapabilities) -> str:
    """The hardware class of a host: its CPU model and the sorted models of its GPUs.

    Two hosts with the same class give comparable results for "latest" baselines.
    """
    cpu = caps.cpu_model.strip() or caps.cpu_vendor.strip() or "unknown cpu"
    gpus = sorted(g.model.strip() for g in caps.gpus)
    return cpu + (" + " + ", ".join(gpus) if gpus else "")


HardwareOf = Callable[[JobRecord], str | None]


def recorded_hardware(job: JobRecord) -> str | None:
    """The hardware class stored in the job record, if any."""
    return job.hardware_class


class HostLookup(Protocol):
    """Host capabilities by id: :class:`benchfarm.scheduler.host_registry.HostRegistry` fits."""

    def get(self, host_id: str) -> HostCapabilities: ...


def hardware_from_hosts(hosts: HostLookup) -> HardwareOf:
    """The stored hardware class of a job, else the class of its host as registered now.

    A host no longer registered gives ``None`` (unknown).
    """

    def of(job: JobRecord) -> str | None:
        if job.hardware_class:
            return job.hardware_class
        if not job.host_id:
            return None
        try:
            return hardware_class(hosts.get(job.host_id))
        except NotFoundError:
            return None

    return of


def resolve_baseline(source: JobSource, ref: BaselineRef, candidate: JobRecord,
                     hardware_of: HardwareOf = recorded_hardware) -> JobRecord:
    """The job record ``ref`` names, as a baseline for ``candidate``.

    Args:
        source: where job records are read (the job repository).
        ref: a parsed reference (:func:`benchfarm.analysis.parse_baseline_ref`).
        candidate: the job to be compared; it is never its own baseline.
        hardware_of: the hardware class of a job (for ``latest``); jobs whose class
            is unknown on either side match only when they ran on the same host.

    Raises:
        NotFoundError: no job matches the reference.
        UserInputError: the named job is the candidate itself.
        ConflictError: the named job did not succeed.
    """
    if isinstance(ref, JobRef):
        job = source.get(ref.job_id)
        if job.id == candidate.id:
            raise UserInputError(f"baseline {job.id} is the candidate job itself",
                                 hint="name an earlier job, a label, BRANCH@GITREF or 'latest'")
        if job.status != JobStatus.SUCCEEDED:
            raise ConflictError(f"baseline job {job.id} is {job.status.value}, not succeeded: it has no results "
                                "to compare with",
                                hint="pick a succeeded job (`benchfarm jobs list --status succeeded`)")
        return job
    if isinstance(ref, LabelRef):
        found = _latest(source, candidate, label=(ref.key, ref.value))
    elif isinstance(ref, GitRef):
        found = _latest(
            source,
            candidate,
            label=(GIT_BRANCH_LABEL, ref.branch),
            keep=lambda j: _git_ref_matches(str(j.labels.get(GIT_REF_LABEL, "")), ref.ref),
        )
    elif isinstance(ref, LatestRef):
        found = _latest(
            source,
            candidate,
            keep=lambda j: j.submitted_at < candidate.submitted_at and _same_hardware(j, candidate, hardware_of),
        )
    else:  # pragma: no cover - the union is closed
        raise UserInputError(f"unsupported baseline reference {ref!r}")
    if found is None:
        raise NotFoundError(
            f"no succeeded job of spec {candidate.name!r} matches baseline {ref}"
            + (f" on hardware class {hardware_of(candidate)!r}" if isinstance(ref, LatestRef) else ""),
            hint=_hint_for(ref),
        )
    return found


def _latest(source: JobSource, candidate: JobRecord, *, label: tuple[str, str] | None = None,
            keep=lambda j: True) -> JobRecord | None:
    for job in source.list(status=JobStatus.SUCCEEDED.value, name=candidate.name, label=label, limit=SEARCH_LIMIT):
        if job.id == candidate.id or CONFIRMATION_LABEL in job.labels:
            continue
        if keep(job):
            return job  # most recent first
    return None


def _same_hardware(job: JobRecord, candidate: JobRecord, hardware_of: HardwareOf) -> bool:
    mine, theirs = hardware_of(job), hardware_of(candidate)
    if mine and theirs:
        return mine == theirs
    # records from before hardware classes were stored: only the same host is known to match
    return job.host_id is not None and job.host_id == candidate.host_id


def _git_ref_matches(stored: str, wanted: str) -> bool:
    if not stored:
        return False
    if stored == wanted:
        return True
    short, long_ = sorted((stored, wanted), key=len)
    return len(short) >= 7 and long_.startswith(short)


def _hint_for(ref: BaselineRef) -> str:
    if isinstance(ref, GitRef):
        return (f"submit the baseline with --label {GIT_BRANCH_LABEL}={ref.branch} --label {GIT_REF_LABEL}={ref.ref}, "
                "or name a job id")
    if isinstance(ref, LabelRef):
        return f"submit the baseline with --label {ref.key}={ref.value}, or name a job id"
    return "run the same spec on the same hardware first, or name a baseline job id"
