"""Verdicts: compare a candidate job's metrics with a baseline's.

Per metric: the ratio of medians (candidate / baseline) with a bootstrap 95% CI, a
two-sided Mann-Whitney U p-value, and a verdict. A metric *regressed* only when all
three hold: the change is in the bad direction for that metric, its size exceeds the
metric's threshold, and it is significant (p < alpha). *Improved* is the mirror image.
Anything else is *no change*, with a ``reason`` saying which condition failed.

A regression is first only *suspected* (``needs_confirmation``): the caller re-runs
the candidate, compares again and calls :func:`confirm`.

Every float in the output is a plain finite ``float`` or ``None`` (never NaN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
from scipy import stats

from benchfarm.analysis.statistics import as_finite_array, bootstrap_ci
from benchfarm.errors import NotFoundError, SpecError

Verdict = Literal["improved", "regressed", "no change"]
Direction = Literal["higher", "lower"]

IMPROVED: Verdict = "improved"
REGRESSED: Verdict = "regressed"
NO_CHANGE: Verdict = "no change"

#: Used for a metric that has no threshold of its own.
DEFAULT_MAX_REGRESSION_PCT = 5.0
DEFAULT_ALPHA = 0.05

_DIRECTION_ALIASES = {
    "higher": "higher",
    "higher_is_better": "higher",
    "lower": "lower",
    "lower_is_better": "lower",
}


@dataclass(frozen=True)
class MetricComparison:
    """The comparison of one metric between a baseline and a candidate.

    ``ratio`` is candidate median / baseline median (``None`` unless the baseline
    median is positive); ``change_pct`` is the signed relative change of the median,
    ``(candidate - baseline) / |baseline| * 100`` (``None`` when the baseline median is
    zero and the candidate's is not). ``confirmed`` is ``None`` until :func:`confirm`
    ran for a suspected regression; ``rerun`` then holds the re-run's comparison.
    """

    metric: str
    direction: Direction
    verdict: Verdict
    reason: str
    baseline_n: int
    candidate_n: int
    baseline_median: float | None
    candidate_median: float | None
    ratio: float | None
    ratio_ci95: tuple[float, float] | None
    change_pct: float | None
    p_value: float | None
    alpha: float
    max_regression_pct: float
    unit: str | None = None
    needs_confirmation: bool = False
    confirmed: bool | None = None
    rerun: MetricComparison | None = None

    def numbers_text(self) -> str:
        """One line with the numbers behind the verdict, for messages and consoles."""
        unit = f" {self.unit}" if self.unit else ""
        ci = f" [{_fmt(self.ratio_ci95[0])}, {_fmt(self.ratio_ci95[1])}]" if self.ratio_ci95 else ""
        return (
            f"baseline median {_fmt(self.baseline_median)}{unit} (n={self.baseline_n}), "
            f"candidate median {_fmt(self.candidate_median)}{unit} (n={self.candidate_n}), "
            f"ratio {_fmt(self.ratio)}{ci} (95% CI), change {_fmt_pct(self.change_pct)}, "
            f"p={_fmt(self.p_value)} (alpha {_fmt(self.alpha)}), "
            f"threshold {_fmt(self.max_regression_pct)}% ({self.direction} is better)"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["ratio_ci95"] = list(self.ratio_ci95) if self.ratio_ci95 else None
        data["rerun"] = self.rerun.to_dict() if self.rerun is not None else None
        return data


@dataclass(frozen=True)
class Comparison:
    """All metric comparisons of a candidate job against a baseline.

    ``skipped`` maps metrics that were not compared to the reason (no direction
    declared, or no values on either side).
    """

    metrics: list[MetricComparison]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def regressed(self) -> bool:
        """True when any metric regressed."""
        return any(m.verdict == REGRESSED for m in self.metrics)

    @property
    def improved(self) -> bool:
        """True when any metric improved."""
        return any(m.verdict == IMPROVED for m in self.metrics)

    @property
    def needs_confirmation(self) -> bool:
        """True when a suspected regression waits for a re-run (see :func:`confirm`)."""
        return any(m.needs_confirmation for m in self.metrics)

    @property
    def exit_code(self) -> int:
        """0 when no metric regressed, 1 when one did (the CI contract)."""
        return 1 if self.regressed else 0

    def get(self, metric: str) -> MetricComparison:
        """The comparison of ``metric``.

        Raises:
            NotFoundError: the metric was not compared.
        """
        for m in self.metrics:
            if m.metric == metric:
                return m
        raise NotFoundError(
            f"metric {metric!r} was not compared",
            hint=f"compared metrics: {', '.join(m.metric for m in self.metrics) or 'none'}",
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the same shape ``benchfarm compare --json`` prints)."""
        return {
            "regressed": self.regressed,
            "exit_code": self.exit_code,
            "needs_confirmation": self.needs_confirmation,
            "metrics": [m.to_dict() for m in self.metrics],
            "skipped": dict(self.skipped),
        }


def normalize_direction(direction: str) -> Direction:
    """Map ``higher``/``lower`` (or ``*_is_better``) to ``"higher"``/``"lower"``.

    Raises:
        SpecError: the direction is none of those.
    """
    key = str(direction).strip().lower()
    if key not in _DIRECTION_ALIASES:
        raise SpecError(
            f"unknown metric direction {direction!r}",
            hint="use 'higher' (higher is better, e.g. throughput) or 'lower' (e.g. latency)",
        )
    return _DIRECTION_ALIASES[key]  # type: ignore[return-value]


def compare_metric(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    direction: str,
    max_regression_pct: float,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
    metric: str = "",
    unit: str | None = None,
) -> MetricComparison:
    """Compare one metric's baseline and candidate repetitions.

    Args:
        baseline: the baseline's measured values (warm-up excluded).
        candidate: the candidate's measured values (warm-up excluded).
        direction: ``"higher"`` when higher is better, ``"lower"`` when lower is.
        max_regression_pct: the largest change in the bad direction, in percent of the
            baseline median, that still passes; the same size in the good direction is
            needed to call an improvement.
        alpha: significance level of the Mann-Whitney U test.
        seed: seed of the bootstrap's numpy Generator.
        metric, unit: carried into the result for reports.

    Raises:
        SpecError: unknown direction, negative threshold or alpha outside (0, 1).
        UserInputError: a value is not a finite number.
    """
    dir_ = normalize_direction(direction)
    _check_threshold(max_regression_pct, alpha)
    base = as_finite_array(baseline, what=f"baseline values of {metric or 'metric'}")
    cand = as_finite_array(candidate, what=f"candidate values of {metric or 'metric'}")
    base_med = float(np.median(base)) if base.size else None
    cand_med = float(np.median(cand)) if cand.size else None
    common: dict[str, Any] = {
        "metric": metric,
        "direction": dir_,
        "unit": unit,
        "baseline_n": int(base.size),
        "candidate_n": int(cand.size),
        "baseline_median": base_med,
        "candidate_median": cand_med,
        "alpha": float(alpha),
        "max_regression_pct": float(max_regression_pct),
    }
    if base.size < 2 or cand.size < 2:
        return MetricComparison(
            verdict=NO_CHANGE,
            reason=f"too few values to compare (baseline n={base.size}, candidate n={cand.size}; need >= 2 each)",
            ratio=_ratio(base_med, cand_med),
            ratio_ci95=None,
            change_pct=_change_pct(base_med, cand_med),
            p_value=None,
            **common,
        )
    assert base_med is not None and cand_med is not None
    p_value = _mann_whitney_p(base, cand, seed)
    ratio = _ratio(base_med, cand_med)
    ratio_ci = _ratio_ci(base, cand, seed) if ratio is not None else None
    change_pct = _change_pct(base_med, cand_med)
    verdict, reason = _verdict(dir_, base_med, cand_med, change_pct, p_value, alpha, max_regression_pct, base, cand)
    return MetricComparison(
        verdict=verdict,
        reason=reason,
        ratio=ratio,
        ratio_ci95=ratio_ci,
        change_pct=change_pct,
        p_value=p_value,
        needs_confirmation=verdict == REGRESSED,
        **common,
    )


def compare_jobs(
    baseline: Mapping[str, Sequence[float]],
    candidate: Mapping[str, Sequence[float]],
    metric_specs: Mapping[str, Any],
    thresholds: Mapping[str, float] | float | None = None,
    *,
    default_max_regression_pct: float = DEFAULT_MAX_REGRESSION_PCT,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
) -> Comparison:
    """Compare every declared metric of a candidate job with the baseline job.

    Args:
        baseline: metric name -> the baseline's measured values.
        candidate: metric name -> the candidate's measured values.
        metric_specs: metric name -> its spec, a mapping or object with ``direction``
            (``"higher"``/``"lower"``) and optionally ``unit``. Metrics without a spec
            are not compared (listed in ``skipped``): their good direction is unknown.
        thresholds: metric name -> max regression in percent, or one number for all;
            metrics without one use ``default_max_regression_pct``.
        alpha: significance level of the rank test.
        seed: seed of the bootstraps.

    Raises:
        SpecError: a spec has an unknown direction or a threshold is invalid.
        UserInputError: a value is not a finite number.
    """
    comparisons: list[MetricComparison] = []
    skipped: dict[str, str] = {}
    for name in sorted(set(baseline) | set(candidate) | set(metric_specs)):
        if name not in metric_specs:
            skipped[name] = "no direction declared for this metric in the job spec"
            continue
        base_values = list(baseline.get(name, []))
        cand_values = list(candidate.get(name, []))
        if not base_values and not cand_values:
            skipped[name] = "no values in the baseline nor in the candidate"
            continue
        spec = metric_specs[name]
        result = compare_metric(
            base_values,
            cand_values,
            direction=_spec_field(spec, "direction", name),
            max_regression_pct=_threshold_for(name, thresholds, default_max_regression_pct),
            alpha=alpha,
            seed=seed,
            metric=name,
            unit=_spec_field(spec, "unit", name, required=False),
        )
        if not base_values or not cand_values:
            side = "baseline" if not base_values else "candidate"
            result = replace(result, reason=f"metric absent from the {side}; not compared")
        comparisons.append(result)
    return Comparison(metrics=comparisons, skipped=skipped)


def confirm_metric(first: MetricComparison, rerun: MetricComparison) -> MetricComparison:
    """Settle a suspected regression with the comparison of a re-run of the candidate.

    The regression stands (``confirmed=True``) only when the re-run regressed too;
    otherwise the verdict becomes *no change* (``confirmed=False``). A comparison that
    needed no confirmation is returned unchanged.
    """
    if not first.needs_confirmation:
        return first
    if rerun.verdict == REGRESSED:
        return replace(
            first,
            needs_confirmation=False,
            confirmed=True,
            rerun=rerun,
            reason=(f"{first.reason}; confirmed by a re-run "
                    f"(change {_fmt_pct(rerun.change_pct)}, p={_fmt(rerun.p_value)})"),
        )
    return replace(
        first,
        verdict=NO_CHANGE,
        needs_confirmation=False,
        confirmed=False,
        rerun=rerun,
        reason=f"suspected regression ({first.reason}) not reproduced by a re-run: {rerun.reason}",
    )


def confirm(first: Comparison, rerun: Comparison) -> Comparison:
    """Apply :func:`confirm_metric` to every suspected regression of ``first``.

    ``rerun`` is the comparison of the re-run candidate against the same baseline. A
    suspected metric missing from the re-run is not confirmed.
    """
    by_name = {m.metric: m for m in rerun.metrics}
    settled = []
    for m in first.metrics:
        if m.needs_confirmation and m.metric not in by_name:
            settled.append(
                replace(
                    m,
                    verdict=NO_CHANGE,
                    needs_confirmation=False,
                    confirmed=False,
                    reason=f"suspected regression ({m.reason}) not reproduced: metric absent from the re-run",
                )
            )
        elif m.needs_confirmation:
            settled.append(confirm_metric(m, by_name[m.metric]))
        else:
            settled.append(m)
    return Comparison(metrics=settled, skipped=dict(first.skipped))


# --- internals ---------------------------------------------------------------------


def _verdict(
    direction: Direction,
    base_med: float,
    cand_med: float,
    change_pct: float | None,
    p_value: float,
    alpha: float,
    threshold: float,
    base: np.ndarray,
    cand: np.ndarray,
) -> tuple[Verdict, str]:
    if cand_med == base_med:
        return NO_CHANGE, f"medians are equal (p={_fmt(p_value)})"
    worse = cand_med < base_med if direction == "higher" else cand_med > base_med
    word = "worse" if worse else "better"
    if change_pct is None:  # zero baseline median: any non-zero change exceeds a relative threshold
        size_text = f"from a zero baseline median to {_fmt(cand_med)} ({word})"
    else:
        size = abs(change_pct)
        size_text = f"{_fmt_pct(change_pct)} ({word})"
        if size <= threshold:
            return NO_CHANGE, f"change {size_text} within the {_fmt(threshold)}% threshold (p={_fmt(p_value)})"
    if not p_value < alpha:
        reason = f"change {size_text} beyond the threshold but not significant (p={_fmt(p_value)} >= {_fmt(alpha)})"
        floor = _min_two_sided_p(base.size, cand.size)
        if floor >= alpha:
            reason += (f"; with n={base.size} and n={cand.size} no rank test can reach p < {_fmt(alpha)}: "
                       "run more repetitions")
        return NO_CHANGE, reason
    verdict = REGRESSED if worse else IMPROVED
    return verdict, (f"{verdict}: change {size_text} beyond the {_fmt(threshold)}% threshold, "
                     f"p={_fmt(p_value)} < {_fmt(alpha)}")


#: Below this sample size, tied data get a permutation p-value instead of the normal
#: approximation, which is anti-conservative there (scipy uses the exact test for
#: untied data up to the same size).
_SMALL_SAMPLE_N = 8
_PERMUTATION_RESAMPLES = 20000  # > C(16, 8): exact for two samples of 8


def _mann_whitney_p(base: np.ndarray, cand: np.ndarray, seed: int) -> float:
    if np.all(base == base[0]) and np.all(cand == base[0]):
        return 1.0  # identical constant samples: nothing to test
    method: Any = "auto"
    has_ties = np.unique(np.concatenate([base, cand])).size < base.size + cand.size
    if has_ties and min(base.size, cand.size) <= _SMALL_SAMPLE_N:
        method = stats.PermutationMethod(n_resamples=_PERMUTATION_RESAMPLES, rng=np.random.default_rng(seed))
    p = float(stats.mannwhitneyu(cand, base, alternative="two-sided", method=method).pvalue)
    return min(1.0, p) if math.isfinite(p) else 1.0


def _min_two_sided_p(n1: int, n2: int) -> float:
    """Smallest two-sided exact Mann-Whitney p-value possible for these sizes."""
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


def _ratio(base_med: float | None, cand_med: float | None) -> float | None:
    if base_med is None or cand_med is None or base_med <= 0:
        return None
    return cand_med / base_med


def _change_pct(base_med: float | None, cand_med: float | None) -> float | None:
    if base_med is None or cand_med is None:
        return None
    if base_med == 0:
        return 0.0 if cand_med == 0 else None
    return (cand_med - base_med) / abs(base_med) * 100.0


def _ratio_of_medians(cand: np.ndarray, base: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.median(cand, axis=axis) / np.median(base, axis=axis)


def _ratio_ci(base: np.ndarray, cand: np.ndarray, seed: int) -> tuple[float, float] | None:
    return bootstrap_ci((cand, base), _ratio_of_medians, seed=seed)


def _check_threshold(max_regression_pct: float, alpha: float) -> None:
    if not (math.isfinite(max_regression_pct) and max_regression_pct >= 0):
        raise SpecError(
            f"max regression threshold must be a percentage >= 0, got {max_regression_pct}",
            hint="e.g. max_regression_pct: 5 for 5%",
        )
    if not (0 < alpha < 1):
        raise SpecError(f"alpha must be between 0 and 1, got {alpha}", hint="the usual choice is 0.05")


def _threshold_for(name: str, thresholds: Mapping[str, float] | float | None, default: float) -> float:
    if thresholds is None:
        return default
    if isinstance(thresholds, (int, float)):
        return float(thresholds)
    return float(thresholds.get(name, default))


def _spec_field(spec: Any, key: str, metric: str, *, required: bool = True) -> Any:
    value = spec.get(key) if isinstance(spec, Mapping) else getattr(spec, key, None)
    if value is None and required:
        raise SpecError(f"metric {metric!r} declares no {key}", hint=f"add '{key}:' to the metric in the job spec")
    return value


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.6g}"


def _fmt_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2f}%"


__all__ = [
    "IMPROVED",
    "NO_CHANGE",
    "REGRESSED",
    "Comparison",
    "Direction",
    "MetricComparison",
    "Verdict",
    "compare_jobs",
    "compare_metric",
    "confirm",
    "confirm_metric",
    "normalize_direction",
]
