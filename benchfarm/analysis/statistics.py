"""Descriptive statistics of one metric's repetitions, and the adaptive-repetition rule.

Pure numpy/scipy, seeded: the same values and seed always give the same summary.
Warm-up repetitions are excluded (and counted); outliers are flagged, never dropped.
Every float in a summary is a plain finite ``float`` or ``None`` (never NaN), so a
summary serialises to JSON as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from benchfarm.errors import UserInputError

#: Bootstrap resamples for confidence intervals (scipy's percentile method).
BOOTSTRAP_RESAMPLES = 2000
#: Tukey's fence: a value beyond q1 - k*IQR or q3 + k*IQR is an outlier.
OUTLIER_IQR_FACTOR = 1.5


@dataclass(frozen=True)
class MetricSummary:
    """Statistics of one metric over the measured (non-warm-up) repetitions.

    ``stdev`` is the sample standard deviation (ddof=1); ``cv`` is ``stdev / |mean|``.
    Fields that need two values (stdev, cv, ci95_median) are ``None`` when n < 2;
    ``cv`` is also ``None`` when the mean is zero. ``outliers`` holds indexes into the
    *original* ``values`` passed to :func:`summarize` (warm-up included), so they
    name repetitions.
    """

    n: int
    warmup_excluded: int
    mean: float
    median: float
    stdev: float | None
    cv: float | None
    min: float
    max: float
    q1: float
    q3: float
    iqr: float
    ci95_median: tuple[float, float] | None
    outliers: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the CI as a two-item list or ``None``)."""
        data = asdict(self)
        data["ci95_median"] = list(self.ci95_median) if self.ci95_median is not None else None
        return data


class AdaptiveDecision(NamedTuple):
    """Whether to run another repetition, and why (unpacks as ``(bool, reason)``)."""

    should_continue: bool
    reason: str


def as_finite_array(values: Sequence[float] | np.ndarray, *, what: str = "values") -> np.ndarray:
    """Convert ``values`` to a 1-D float array, rejecting NaN and infinities.

    Raises:
        UserInputError: a value is not a finite number.
    """
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise UserInputError(
            f"{what} must be numbers", hint="check the benchmark's result parser output"
        ) from exc
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise UserInputError(
            f"{what} contain a non-finite number at index {int(bad[0])} ({arr[bad[0]]})",
            hint="a benchmark must report finite numbers; fix its output or its parser",
        )
    return arr


def coefficient_of_variation(values: Sequence[float] | np.ndarray) -> float | None:
    """Sample stdev over |mean|; ``None`` when n < 2 or the mean is zero."""
    arr = as_finite_array(values)
    if arr.size < 2:
        return None
    mean = float(np.mean(arr))
    if mean == 0.0:
        return None
    return float(np.std(arr, ddof=1)) / abs(mean)


def bootstrap_ci(
    data: tuple[np.ndarray, ...],
    statistic: Any,
    *,
    seed: int,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
) -> tuple[float, float] | None:
    """Percentile-bootstrap 95% CI of a vectorised ``statistic`` over independent samples.

    Returns ``None`` when the interval is not finite (e.g. a ratio whose resampled
    denominator hit zero). The percentile method is used rather than BCa because
    medians of small discrete samples make BCa degenerate.
    """
    res = stats.bootstrap(
        data,
        statistic,
        n_resamples=n_resamples,
        vectorized=True,
        paired=False,
        axis=-1,
        confidence_level=0.95,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return (low, high)


def _median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(x, axis=axis)


def summarize(values: Sequence[float], *, warmup: int = 0, seed: int = 0) -> MetricSummary:
    """Summarise one metric's repetitions.

    Args:
        values: one value per repetition, in run order, warm-up repetitions first.
        warmup: how many leading values are warm-up runs; they are excluded and counted.
        seed: seed of the bootstrap's numpy Generator.

    Raises:
        UserInputError: no measured value is left after the warm-up, ``warmup`` is
            negative, or a value is not a finite number.
    """
    if warmup < 0:
        raise UserInputError(f"warmup must be >= 0, got {warmup}", hint="set warmup to 0 or more")
    arr = as_finite_array(values)
    measured = arr[warmup:]
    if measured.size == 0:
        raise UserInputError(
            f"no measured value: {arr.size} value(s), {warmup} of them warm-up",
            hint="run more repetitions than warm-up runs",
        )
    n = int(measured.size)
    mean = float(np.mean(measured))
    q1, median, q3 = (float(q) for q in np.percentile(measured, [25, 50, 75]))
    iqr = q3 - q1
    stdev = float(np.std(measured, ddof=1)) if n >= 2 else None
    cv = stdev / abs(mean) if stdev is not None and mean != 0.0 else None
    ci = bootstrap_ci((measured,), _median, seed=seed) if n >= 2 else None
    low_fence, high_fence = q1 - OUTLIER_IQR_FACTOR * iqr, q3 + OUTLIER_IQR_FACTOR * iqr
    outliers = [int(i) + warmup for i in np.flatnonzero((measured < low_fence) | (measured > high_fence))]
    return MetricSummary(
        n=n,
        warmup_excluded=int(min(warmup, arr.size)),
        mean=mean,
        median=median,
        stdev=stdev,
        cv=cv,
        min=float(np.min(measured)),
        max=float(np.max(measured)),
        q1=q1,
        q3=q3,
        iqr=iqr,
        ci95_median=ci,
        outliers=outliers,
    )


def adaptive_should_continue(
    values: Sequence[float], target_cv: float, min_n: int, max_n: int
) -> AdaptiveDecision:
    """Decide whether an adaptive job runs another repetition.

    Runs continue while fewer than ``min_n`` values exist, or while the coefficient of
    variation is above ``target_cv`` and fewer than ``max_n`` values exist. Pass only
    measured values (warm-up excluded). Whether the run converged is
    :func:`adaptive_converged` of the final values.

    Args:
        values: the measured values so far.
        target_cv: stop once the CV is at or under this (e.g. 0.02 for 2%).
        min_n: the fewest repetitions to run (at least 2).
        max_n: the most repetitions to run (at least ``min_n``).

    Raises:
        UserInputError: the bounds are inconsistent or a value is not finite.
    """
    _check_adaptive_bounds(target_cv, min_n, max_n)
    arr = as_finite_array(values)
    n = int(arr.size)
    if n < min_n:
        return AdaptiveDecision(True, f"n={n} is below the minimum of {min_n}")
    cv = coefficient_of_variation(arr)
    if cv is not None and cv <= target_cv:
        return AdaptiveDecision(False, f"converged: cv={cv:.4g} <= target {target_cv:.4g} at n={n}")
    cv_text = "undefined (mean is zero)" if cv is None else f"{cv:.4g}"
    if n >= max_n:
        return AdaptiveDecision(
            False, f"not converged: reached the maximum of {max_n} with cv={cv_text} > target {target_cv:.4g}"
        )
    return AdaptiveDecision(True, f"cv={cv_text} above target {target_cv:.4g} at n={n}")


def adaptive_converged(values: Sequence[float], target_cv: float) -> bool:
    """True when the values' CV is defined and at or under ``target_cv``."""
    cv = coefficient_of_variation(values)
    return cv is not None and cv <= target_cv


def _check_adaptive_bounds(target_cv: float, min_n: int, max_n: int) -> None:
    if not (math.isfinite(target_cv) and target_cv > 0):
        raise UserInputError(f"target_cv must be > 0, got {target_cv}", hint="e.g. target_cv: 0.02 for 2%")
    if min_n < 2:
        raise UserInputError(f"min_n must be >= 2, got {min_n}", hint="a CV needs at least two values")
    if max_n < min_n:
        raise UserInputError(f"max_n ({max_n}) is below min_n ({min_n})", hint="set max_n >= min_n")
