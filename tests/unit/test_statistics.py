"""Statistics of one metric: agreement with numpy/scipy on known data, outliers, adaptive rule."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from benchfarm.analysis.statistics import (
    BOOTSTRAP_RESAMPLES,
    adaptive_converged,
    adaptive_should_continue,
    summarize,
)
from benchfarm.errors import UserInputError

KNOWN_DATA = [
    pytest.param([1.0, 2.0, 3.0, 4.0, 5.0], id="ramp-5"),
    pytest.param([10.2, 9.8, 10.1, 10.0, 9.9, 10.3, 10.0], id="tight-7"),
    pytest.param([3.0, 3.0, 3.0, 4.0], id="ties"),
    pytest.param([-5.0, -1.0, 2.0, 8.0, 100.0], id="signed-skewed"),
    pytest.param(list(np.random.default_rng(42).lognormal(3.0, 0.4, size=50)), id="lognormal-50"),
]


@pytest.mark.parametrize("values", KNOWN_DATA)
def test_summary_agrees_with_numpy_and_scipy(values: list[float]) -> None:
    s = summarize(values)
    arr = np.asarray(values)
    assert s.n == arr.size
    assert s.warmup_excluded == 0
    assert s.mean == pytest.approx(np.mean(arr))
    assert s.median == pytest.approx(np.median(arr))
    assert s.stdev == pytest.approx(np.std(arr, ddof=1))
    assert s.cv == pytest.approx(abs(stats.variation(arr, ddof=1)))  # CV over |mean|
    assert s.min == np.min(arr) and s.max == np.max(arr)
    assert s.q1 == pytest.approx(np.percentile(arr, 25))
    assert s.q3 == pytest.approx(np.percentile(arr, 75))
    assert s.iqr == pytest.approx(stats.iqr(arr))


@pytest.mark.parametrize("values", KNOWN_DATA)
def test_ci_of_median_is_scipys_seeded_percentile_bootstrap(values: list[float]) -> None:
    s = summarize(values, seed=7)
    ref = stats.bootstrap(
        (np.asarray(values),),
        np.median,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(7),
    ).confidence_interval
    assert s.ci95_median == pytest.approx((ref.low, ref.high))
    assert s.ci95_median[0] <= s.median <= s.ci95_median[1]


def test_same_seed_same_summary_and_seed_changes_ci() -> None:
    values = list(np.random.default_rng(1).normal(100, 5, size=15))
    assert summarize(values, seed=3) == summarize(values, seed=3)
    assert summarize(values, seed=3).ci95_median != summarize(values, seed=4).ci95_median


def test_ci_of_median_covers_true_median_about_95_percent() -> None:
    rng = np.random.default_rng(2024)
    trials, covered = 200, 0
    for i in range(trials):
        sample = rng.normal(50.0, 4.0, size=30)  # true median 50
        low, high = summarize(list(sample), seed=i).ci95_median
        covered += low <= 50.0 <= high
    assert 0.88 <= covered / trials <= 0.99


def test_warmup_values_are_excluded_and_counted() -> None:
    s = summarize([500.0, 300.0, 10.0, 11.0, 12.0], warmup=2)
    assert s.n == 3 and s.warmup_excluded == 2
    assert s.median == 11.0 and s.max == 12.0


def test_outliers_flagged_by_tukey_fences_with_original_indexes() -> None:
    values = [999.0, 10.0, 11.0, 12.0, 11.0, 10.0, 40.0, 11.5, -20.0]
    s = summarize(values, warmup=1)
    measured = np.asarray(values[1:])
    q1, q3 = np.percentile(measured, [25, 75])
    expected = [i + 1 for i, v in enumerate(measured) if v < q1 - 1.5 * (q3 - q1) or v > q3 + 1.5 * (q3 - q1)]
    assert expected == [6, 8]  # 40 and -20; the warm-up 999 is not an outlier, it is excluded
    assert s.outliers == expected
    assert s.n == 8  # flagged, not dropped
    assert s.max == 40.0 and s.min == -20.0


def test_single_value_has_no_spread_and_no_nan() -> None:
    s = summarize([5.0])
    assert (s.n, s.mean, s.median, s.iqr) == (1, 5.0, 5.0, 0.0)
    assert s.stdev is None and s.cv is None and s.ci95_median is None
    json.dumps(s.to_dict(), allow_nan=False)


def test_constant_values_and_zero_mean() -> None:
    s = summarize([7.0] * 6)
    assert s.stdev == 0.0 and s.cv == 0.0 and s.ci95_median == (7.0, 7.0) and s.outliers == []
    z = summarize([-1.0, 1.0, -1.0, 1.0])
    assert z.mean == 0.0 and z.cv is None
    json.dumps(z.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("values", "warmup"),
    [
        pytest.param([], 0, id="empty"),
        pytest.param([1.0, 2.0], 2, id="all-warmup"),
        pytest.param([1.0, 2.0], -1, id="negative-warmup"),
        pytest.param([1.0, math.nan], 0, id="nan"),
        pytest.param([1.0, math.inf], 0, id="inf"),
        pytest.param(["fast", 1.0], 0, id="not-a-number"),
    ],
)
def test_invalid_input_raises_user_error_with_hint(values: list, warmup: int) -> None:
    with pytest.raises(UserInputError) as err:
        summarize(values, warmup=warmup)
    assert err.value.hint


@pytest.mark.parametrize(
    ("values", "expect_continue", "reason_part"),
    [
        pytest.param([100.0, 101.0], True, "below the minimum", id="under-min"),
        pytest.param([100.0, 101.0, 99.0], False, "converged", id="converged"),
        pytest.param([100.0, 150.0, 60.0], True, "above target", id="noisy-continue"),
        pytest.param([100.0, 150.0, 60.0, 120.0, 80.0], False, "not converged", id="noisy-at-max"),
        pytest.param([-1.0, 1.0, -1.0, 1.0], True, "undefined", id="zero-mean"),
    ],
)
def test_adaptive_should_continue(values: list[float], expect_continue: bool, reason_part: str) -> None:
    go_on, reason = adaptive_should_continue(values, target_cv=0.02, min_n=3, max_n=5)
    assert go_on is expect_continue
    assert reason_part in reason


def test_adaptive_loop_stops_between_bounds_and_records_convergence() -> None:
    rng = np.random.default_rng(5)
    values: list[float] = []
    while adaptive_should_continue(values, target_cv=0.05, min_n=3, max_n=30).should_continue:
        values.append(float(rng.normal(100.0, 2.0)))
    assert 3 <= len(values) <= 30
    assert adaptive_converged(values, 0.05)
    assert np.std(values, ddof=1) / np.mean(values) <= 0.05


@pytest.mark.parametrize(
    ("target_cv", "min_n", "max_n"),
    [(0.0, 3, 5), (-0.1, 3, 5), (0.05, 1, 5), (0.05, 5, 4), (math.nan, 3, 5)],
)
def test_adaptive_rejects_bad_bounds(target_cv: float, min_n: int, max_n: int) -> None:
    with pytest.raises(UserInputError):
        adaptive_should_continue([1.0, 2.0, 3.0], target_cv, min_n, max_n)
