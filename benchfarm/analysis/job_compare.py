"""Compare two job records: the candidate's spec says each metric's direction and threshold.

Warm-up repetitions are excluded; only repetitions with a value for a metric count
for it. The thresholds are the candidate's (``thresholds.max_regression_pct`` for
every metric, ``thresholds.per_metric`` overriding it per metric).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchfarm.analysis.compare import Comparison, compare_jobs, confirm
from benchfarm.errors import ConflictError
from benchfarm.jobs.model import JobRecord, JobStatus


def measured_values(job: JobRecord) -> dict[str, list[float]]:
    """Metric name -> the values of the job's measured (non-warm-up) repetitions, in run order."""
    values: dict[str, list[float]] = {}
    for rep in job.measured():
        for name, value in rep.metrics.items():
            values.setdefault(name, []).append(float(value))
    return values


def compare_records(baseline: JobRecord, candidate: JobRecord, *, seed: int = 0) -> Comparison:
    """Compare ``candidate`` with ``baseline`` using the candidate's metric directions and thresholds.

    Raises:
        ConflictError: either job has not succeeded (it has no complete results).
        SpecError: the spec declares an unknown direction or an invalid threshold.
    """
    for role, job in (("baseline", baseline), ("candidate", candidate)):
        if job.status != JobStatus.SUCCEEDED:
            raise ConflictError(f"{role} job {job.id} is {job.status.value}: only succeeded jobs can be compared",
                                hint=f"see `benchfarm jobs logs {job.id}`")
    metric_specs, max_pct, per_metric = spec_thresholds(candidate.spec)
    return compare_jobs(
        measured_values(baseline),
        measured_values(candidate),
        metric_specs,
        per_metric,
        default_max_regression_pct=max_pct,
        seed=seed,
    )


def spec_thresholds(spec: dict[str, Any]) -> tuple[dict[str, Any], float, dict[str, float]]:
    """(metric specs, default max regression %, per-metric thresholds) of a stored job spec."""
    metrics = dict((spec.get("results") or {}).get("metrics") or {})
    thresholds = spec.get("thresholds") or {}
    max_pct = float(thresholds.get("max_regression_pct", 5.0))
    per_metric = {k: float(v) for k, v in (thresholds.get("per_metric") or {}).items()}
    return metrics, max_pct, per_metric


def confirm_with_rerun(
    first: Comparison,
    baseline: JobRecord,
    rerun: Callable[[], JobRecord],
    *,
    seed: int = 0,
) -> tuple[Comparison, JobRecord | None]:
    """Settle suspected regressions of ``first`` by re-running the candidate once.

    Args:
        first: the candidate's comparison with ``baseline``.
        baseline: the same baseline the re-run is compared with.
        rerun: runs the candidate's spec again and returns the final record.
        seed: seed of the bootstraps.

    Returns:
        The confirmed comparison and the re-run's record (``None`` when nothing was
        suspected and no re-run happened).

    Raises:
        ConflictError: the re-run did not succeed.
    """
    if not first.needs_confirmation:
        return first, None
    again = rerun()
    return confirm(first, compare_records(baseline, again, seed=seed)), again
