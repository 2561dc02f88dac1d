"""Verdicts: A/A gives no change, a planted 20% slowdown regresses in the right direction,
edge cases give defined verdicts without NaN, confirmation by re-run."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats

from benchfarm.analysis.compare import (
    IMPROVED,
    NO_CHANGE,
    REGRESSED,
    compare_jobs,
    compare_metric,
    confirm,
    confirm_metric,
)
from benchfarm.errors import NotFoundError, SpecError, UserInputError


def run_times(seed: int, *, work: float = 1.0, n: int = 10, noise_cv: float = 0.02) -> np.ndarray:
    """Simulated wall times of a benchmark doing ``work`` units: 10 s per unit, with noise."""
    rng = np.random.default_rng(seed)
    return 10.0 * work * rng.normal(1.0, noise_cv, size=n)


def job_metrics(times: np.ndarray) -> dict[str, list[float]]:
    """A job's metrics from its run times: time (lower is better), throughput (higher is better)."""
    return {"time_s": list(times), "ops_per_s": list(1000.0 / times)}


SPECS = {"time_s": {"direction": "lower", "unit": "s"}, "ops_per_s": {"direction": "higher", "unit": "op/s"}}


@pytest.mark.parametrize("seed", range(0, 40, 2))
def test_a_a_gives_no_change_for_every_metric(seed: int) -> None:
    comparison = compare_jobs(job_metrics(run_times(seed)), job_metrics(run_times(seed + 1)), SPECS, 5.0)
    assert [m.verdict for m in comparison.metrics] == [NO_CHANGE, NO_CHANGE]
    assert not comparison.regressed and comparison.exit_code == 0
    for m in comparison.metrics:
        assert m.ratio_ci95[0] <= 1.0 <= m.ratio_ci95[1] or abs(m.change_pct) <= 5.0


def test_a_a_false_alarm_rate_of_the_rank_test_is_near_alpha() -> None:
    # With a zero threshold the verdict is the significance test alone: about alpha of A/A pairs flag.
    flagged = 0
    for seed in range(200):
        m = compare_metric(run_times(2 * seed), run_times(2 * seed + 1), direction="lower", max_regression_pct=0.0)
        flagged += m.verdict != NO_CHANGE
    assert flagged / 200 <= 0.10


def test_planted_20_percent_slowdown_regresses_both_directions() -> None:
    comparison = compare_jobs(job_metrics(run_times(1)), job_metrics(run_times(2, work=1.2)), SPECS, 5.0)
    time_s, ops = comparison.get("time_s"), comparison.get("ops_per_s")
    assert time_s.verdict == REGRESSED and ops.verdict == REGRESSED
    assert time_s.ratio == pytest.approx(1.2, rel=0.03) and time_s.change_pct > 5.0
    assert ops.ratio == pytest.approx(1 / 1.2, rel=0.03) and ops.change_pct < -5.0
    assert time_s.ratio_ci95[0] > 1.05 and ops.ratio_ci95[1] < 0.95
    assert time_s.needs_confirmation and comparison.needs_confirmation
    assert comparison.regressed and comparison.exit_code == 1


def test_planted_20_percent_speedup_improves_both_directions() -> None:
    comparison = compare_jobs(job_metrics(run_times(1)), job_metrics(run_times(2, work=0.8)), SPECS, 5.0)
    assert [m.verdict for m in comparison.metrics] == [IMPROVED, IMPROVED]
    assert not comparison.regressed and comparison.improved and comparison.exit_code == 0
    assert not comparison.needs_confirmation


def test_direction_decides_which_way_is_bad() -> None:
    base, cand = run_times(3), run_times(4, work=1.2)
    assert compare_metric(base, cand, direction="lower", max_regression_pct=5).verdict == REGRESSED
    assert compare_metric(base, cand, direction="higher", max_regression_pct=5).verdict == IMPROVED


def test_numbers_agree_with_scipy() -> None:
    base, cand = run_times(5), run_times(6, work=1.1)
    m = compare_metric(base, cand, direction="lower", max_regression_pct=5, seed=11)
    assert m.baseline_median == pytest.approx(np.median(base))
    assert m.candidate_median == pytest.approx(np.median(cand))
    assert m.ratio == pytest.approx(np.median(cand) / np.median(base))
    assert m.p_value == pytest.approx(stats.mannwhitneyu(cand, base, alternative="two-sided").pvalue)
    ref = stats.bootstrap(
        (cand, base),
        lambda c, b, axis: np.median(c, axis=axis) / np.median(b, axis=axis),
        n_resamples=2000,
        method="percentile",
        rng=np.random.default_rng(11),
    ).confidence_interval
    assert m.ratio_ci95 == pytest.approx((ref.low, ref.high))


@pytest.mark.parametrize(
    ("work", "threshold", "verdict", "reason_part"),
    [
        pytest.param(1.03, 5.0, NO_CHANGE, "within the 5% threshold", id="small-slowdown-within-threshold"),
        pytest.param(1.03, 1.0, REGRESSED, "regressed", id="same-slowdown-tight-threshold"),
        pytest.param(1.2, 25.0, NO_CHANGE, "within the 25% threshold", id="big-threshold"),
    ],
)
def test_threshold_gates_the_verdict(work: float, threshold: float, verdict: str, reason_part: str) -> None:
    m = compare_metric(run_times(7, n=20), run_times(8, n=20, work=work), direction="lower",
                       max_regression_pct=threshold)
    assert m.verdict == verdict
    assert reason_part in m.reason


def test_large_change_that_is_not_significant_is_no_change() -> None:
    m = compare_metric([10.0, 30.0, 12.0], [14.0, 11.0, 40.0], direction="lower", max_regression_pct=5)
    assert m.verdict == NO_CHANGE
    assert "not significant" in m.reason and "run more repetitions" in m.reason


EDGE_CASES = [
    pytest.param([], [1.0, 2.0], "too few values", id="empty-baseline"),
    pytest.param([1.0], [1.0, 2.0], "too few values", id="one-baseline-value"),
    pytest.param([1.0, 2.0], [3.0], "too few values", id="one-candidate-value"),
    pytest.param([5.0] * 6, [5.0] * 6, "medians are equal", id="identical-constant"),
    pytest.param([0.0] * 6, [0.0] * 6, "medians are equal", id="all-zero"),
    pytest.param([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], "not significant", id="zero-baseline-small-n"),
]


@pytest.mark.parametrize(("base", "cand", "reason_part"), EDGE_CASES)
def test_edge_cases_have_defined_verdicts_and_no_nan(base: list, cand: list, reason_part: str) -> None:
    m = compare_metric(base, cand, direction="lower", max_regression_pct=5.0)
    assert m.verdict == NO_CHANGE and not m.needs_confirmation
    assert reason_part in m.reason
    json.dumps(m.to_dict(), allow_nan=False)


def test_zero_baseline_with_significant_change_regresses_without_a_ratio() -> None:
    m = compare_metric([0.0] * 8, [1.0, 2.0, 1.0, 3.0, 1.0, 2.0, 1.0, 2.0], direction="lower", max_regression_pct=5)
    assert m.verdict == REGRESSED
    assert m.ratio is None and m.ratio_ci95 is None and m.change_pct is None
    assert "zero baseline" in m.reason
    json.dumps(m.to_dict(), allow_nan=False)


def test_small_tied_samples_use_an_exact_permutation_p_value() -> None:
    # The normal approximation gives p~0.047 here; the exact test cannot go below 0.1 at n=3+3.
    m = compare_metric([1.0, 1.0, 1.0], [2.0, 2.0, 2.0], direction="lower", max_regression_pct=5)
    assert m.p_value == pytest.approx(0.1)
    assert m.verdict == NO_CHANGE


def test_constant_but_different_samples_regress_when_n_is_large_enough() -> None:
    m = compare_metric([10.0] * 8, [12.0] * 8, direction="lower", max_regression_pct=5)
    assert m.verdict == REGRESSED and m.ratio == pytest.approx(1.2) and m.ratio_ci95 == (1.2, 1.2)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"direction": "sideways", "max_regression_pct": 5}, SpecError, id="bad-direction"),
        pytest.param({"direction": "lower", "max_regression_pct": -1}, SpecError, id="negative-threshold"),
        pytest.param({"direction": "lower", "max_regression_pct": 5, "alpha": 1.5}, SpecError, id="bad-alpha"),
    ],
)
def test_invalid_arguments_raise(kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        compare_metric([1.0, 2.0], [1.0, 2.0], **kwargs)


def test_non_finite_values_raise() -> None:
    with pytest.raises(UserInputError):
        compare_metric([1.0, float("nan")], [1.0, 2.0], direction="lower", max_regression_pct=5)


@dataclass
class SpecObject:
    direction: str
    unit: str | None = None


def test_compare_jobs_skips_undeclared_and_empty_metrics_and_reports_absent_ones() -> None:
    base = {"time_s": list(run_times(1)), "rss_bytes": [1.0, 2.0], "only_base": [1.0, 2.0, 3.0]}
    cand = {"time_s": list(run_times(2)), "rss_bytes": [1.0, 2.0]}
    specs = {"time_s": SpecObject("lower_is_better", "s"), "only_base": {"direction": "lower"},
             "declared": {"direction": "higher"}}
    comparison = compare_jobs(base, cand, specs)
    assert [m.metric for m in comparison.metrics] == ["only_base", "time_s"]
    assert comparison.get("time_s").unit == "s" and comparison.get("time_s").direction == "lower"
    assert "absent from the candidate" in comparison.get("only_base").reason
    assert set(comparison.skipped) == {"rss_bytes", "declared"}
    with pytest.raises(NotFoundError):
        comparison.get("rss_bytes")
    json.dumps(comparison.to_dict(), allow_nan=False)


def test_compare_jobs_thresholds_per_metric_and_default() -> None:
    base, cand = job_metrics(run_times(7, n=20)), job_metrics(run_times(8, n=20, work=1.03))
    per_metric = compare_jobs(base, cand, SPECS, {"time_s": 1.0})  # ops_per_s falls back to the 5% default
    assert per_metric.get("time_s").verdict == REGRESSED
    assert per_metric.get("ops_per_s").verdict == NO_CHANGE
    assert per_metric.get("ops_per_s").max_regression_pct == 5.0


def test_compare_jobs_missing_direction_is_a_spec_error() -> None:
    with pytest.raises(SpecError):
        compare_jobs({"t": [1.0, 2.0]}, {"t": [1.0, 2.0]}, {"t": {"unit": "s"}})


def test_confirm_keeps_a_reproduced_regression() -> None:
    base = job_metrics(run_times(1))
    first = compare_jobs(base, job_metrics(run_times(2, work=1.2)), SPECS)
    rerun = compare_jobs(base, job_metrics(run_times(3, work=1.2)), SPECS)
    settled = confirm(first, rerun)
    assert settled.regressed and settled.exit_code == 1 and not settled.needs_confirmation
    for m in settled.metrics:
        assert m.verdict == REGRESSED and m.confirmed is True and m.rerun is not None
        assert "confirmed by a re-run" in m.reason
    json.dumps(settled.to_dict(), allow_nan=False)


def test_confirm_drops_a_regression_the_rerun_does_not_reproduce() -> None:
    base = job_metrics(run_times(1))
    first = compare_jobs(base, job_metrics(run_times(2, work=1.2)), SPECS)
    rerun = compare_jobs(base, job_metrics(run_times(3)), SPECS)
    settled = confirm(first, rerun)
    assert not settled.regressed and settled.exit_code == 0
    for m in settled.metrics:
        assert m.verdict == NO_CHANGE and m.confirmed is False
        assert "not reproduced" in m.reason


def test_confirm_metric_leaves_unsuspected_comparisons_alone() -> None:
    m = compare_metric(run_times(1), run_times(2), direction="lower", max_regression_pct=5)
    assert confirm_metric(m, m) is m


def test_confirm_without_the_metric_in_the_rerun_does_not_confirm() -> None:
    base = job_metrics(run_times(1))
    first = compare_jobs(base, job_metrics(run_times(2, work=1.2)), SPECS)
    rerun = compare_jobs(base, {}, {})
    settled = confirm(first, rerun)
    assert not settled.regressed
    assert all("absent from the re-run" in m.reason for m in settled.metrics)
