"""A job's verdict against a baseline: resolve the reference, compare, apply a confirmation re-run.

Used by the API (``GET /jobs/{id}/compare``, ``GET /jobs/{id}/junit``), which the
CLI's ``benchfarm compare`` and ``benchfarm submit --baseline`` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchfarm.analysis.baseline_ref import parse_baseline_ref
from benchfarm.analysis.baselines import CONFIRMATION_LABEL, HardwareOf, JobSource, recorded_hardware, resolve_baseline
from benchfarm.analysis.compare import Comparison, confirm
from benchfarm.analysis.job_compare import compare_records
from benchfarm.analysis.junit import to_junit_xml
from benchfarm.errors import UserInputError
from benchfarm.jobs.model import JobRecord


@dataclass(frozen=True)
class JobVerdict:
    """The comparison of ``candidate`` with ``baseline`` (confirmed by ``rerun`` when one is given)."""

    candidate: JobRecord
    baseline: JobRecord
    baseline_ref: str
    comparison: Comparison
    rerun: JobRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ids, the reference and the comparison."""
        return {
            "job_id": self.candidate.id,
            "name": self.candidate.name,
            "baseline_ref": self.baseline_ref,
            "baseline_id": self.baseline.id,
            "rerun_id": self.rerun.id if self.rerun else None,
            **self.comparison.to_dict(),
        }

    def junit(self) -> str:
        """The JUnit XML document of the comparison."""
        return to_junit_xml(self.comparison, self.candidate.name or "benchmark", self.candidate.id)


def job_verdict(source: JobSource, job_id: str, baseline: str = "latest", rerun_id: str | None = None,
                *, hardware_of: HardwareOf = recorded_hardware, seed: int = 0) -> JobVerdict:
    """Compare job ``job_id`` with the baseline ``baseline`` names.

    Args:
        source: the job repository.
        job_id: the candidate job.
        baseline: a baseline reference (job id, ``label:K=V``, ``BRANCH@REF`` or ``latest``).
        rerun_id: a confirmation re-run of the candidate; its comparison with the same
            baseline settles suspected regressions (:func:`benchfarm.analysis.confirm`).
        hardware_of: the hardware class of a job, for ``latest`` baselines.
        seed: seed of the bootstraps.

    Raises:
        NotFoundError: the job, the re-run or the baseline does not exist.
        UserInputError: a job has not succeeded, the reference is malformed, or the
            re-run is not a confirmation run of this job.
    """
    candidate = source.get(job_id)
    ref = parse_baseline_ref(baseline)
    base = resolve_baseline(source, ref, candidate, hardware_of)
    comparison = compare_records(base, candidate, seed=seed)
    rerun = None
    if rerun_id is not None:
        rerun = source.get(rerun_id)
        if str(rerun.labels.get(CONFIRMATION_LABEL, "")) != candidate.id:
            raise UserInputError(f"job {rerun_id} is not a confirmation run of {candidate.id}",
                                 hint=f"a re-run carries the label {CONFIRMATION_LABEL}={candidate.id}")
        comparison = confirm(comparison, compare_records(base, rerun, seed=seed))
    return JobVerdict(candidate=candidate, baseline=base, baseline_ref=str(ref), comparison=comparison, rerun=rerun)
