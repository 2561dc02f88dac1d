"""The campaign comparison's statistics: groups by class, medians with CIs, ratios, perf/$, scaling curves."""

from __future__ import annotations

import pytest

from benchfarm.analysis.comparison import MetricInfo, RunResult, compare_campaign, group_key
from benchfarm.errors import UserInputError

EPS = MetricInfo("events_per_second", "events/s", "higher")
LAT = MetricInfo("latency_avg_ms", "ms", "lower")
CPU_A, CPU_B = "Xeon Gold 6338", "EPYC 7763"


def _run(pool, cls, point, eps, lat=None, host="h1", status="succeeded", reason=None, job=None):
    values = {"events_per_second": eps}
    if lat is not None:
        values["latency_avg_ms"] = lat
    return RunResult(job or f"job-{pool}-{point}-{host}", f"pool:{pool}", pool, cls, point, status, reason, host,
                     values)


def _sweep():
    return [
        _run("a", CPU_A, "T=1", [100, 102, 98], [10, 10.2, 9.8]),
        _run("a", CPU_A, "T=2", [190, 195, 200], [10.5, 10.4, 10.6]),
        _run("b", CPU_B, "T=1", [150, 149, 151], [6.6, 6.7, 6.5]),
        _run("b", CPU_B, "T=2", [300, 302, 298], [6.7, 6.6, 6.8]),
    ]


def _cells(result, metric):
    return {(c.group, c.point): c for c in result.cells[metric]}


def test_each_group_gets_its_median_and_a_ci_that_brackets_it():
    result = compare_campaign("camp-1", "bench", _sweep(), [EPS, LAT], ["T=1", "T=2"])
    cells = _cells(result, "events_per_second")
    a1 = cells[(group_key("a", CPU_A), "T=1")]
    assert a1.median == 100 and a1.n == 3
    assert a1.ci is not None and a1.ci[0] <= 100 <= a1.ci[1]
    assert [g.key for g in result.groups] == ["a / Xeon Gold 6338", "b / EPYC 7763"]


def test_ratio_is_to_the_reference_group_at_the_same_point():
    result = compare_campaign("camp-1", "bench", _sweep(), [EPS], ["T=1", "T=2"], reference="b")
    assert result.reference == "b / EPYC 7763"
    cells = _cells(result, "events_per_second")
    a2 = cells[("a / Xeon Gold 6338", "T=2")]
    assert a2.ratio == pytest.approx(195 / 300)
    assert a2.ratio_ci is not None and a2.ratio_ci[0] <= a2.ratio <= a2.ratio_ci[1]
    assert cells[("b / EPYC 7763", "T=1")].ratio == 1.0


def test_hosts_of_one_class_in_one_pool_are_one_group_not_one_per_host():
    runs = [_run("a", CPU_A, "-", [100, 101], host="h1", job="j1"), _run("a", CPU_A, "-", [103, 99], host="h2",
                                                                          job="j2")]
    result = compare_campaign("c", "bench", runs, [EPS], ["-"])
    (group,) = result.groups
    assert group.hosts == ["h1", "h2"]
    (cell,) = result.cells["events_per_second"]
    assert cell.n == 4 and cell.median == pytest.approx(100.5)


def test_perf_per_dollar_uses_the_pools_price_for_higher_is_better_metrics_only():
    prices = {"a": (0.5, "given"), "b": (2.0, "pool definition")}
    result = compare_campaign("c", "bench", _sweep(), [EPS, LAT], ["T=1", "T=2"], prices=prices)
    eps = _cells(result, "events_per_second")
    assert eps[("a / Xeon Gold 6338", "T=1")].per_dollar == pytest.approx(200)
    assert eps[("b / EPYC 7763", "T=1")].per_dollar == pytest.approx(75)
    assert all(c.per_dollar is None for c in result.cells["latency_avg_ms"])
    assert {g.pool: g.price_source for g in result.groups} == {"a": "given", "b": "pool definition"}


def test_a_numeric_sweep_gives_a_scaling_curve_with_ideal_linear_scaling():
    result = compare_campaign("c", "bench", _sweep(), [EPS, LAT], ["T=1", "T=2"])
    curves = {c.group: c for c in result.scaling}
    assert set(curves) == {"a / Xeon Gold 6338", "b / EPYC 7763"}  # latency (lower is better) has none
    a = curves["a / Xeon Gold 6338"]
    assert a.axis == "T" and [p.x for p in a.points] == [1.0, 2.0]
    assert a.points[1].ideal == pytest.approx(200) and a.points[1].efficiency == pytest.approx(195 / 200)
    assert curves["b / EPYC 7763"].points[1].efficiency == pytest.approx(1.0)


def test_no_curve_without_a_numeric_axis():
    runs = [_run("a", CPU_A, "MODE=x", [1, 2]), _run("a", CPU_A, "MODE=y", [3, 4])]
    assert compare_campaign("c", "bench", runs, [EPS], ["MODE=x", "MODE=y"]).scaling == []


def test_failed_and_refused_jobs_are_named_and_the_others_compared():
    runs = [*_sweep()[:2], _run("b", CPU_B, "T=1", [], status="failed", reason="exit code 1", job="job-bad"),
            RunResult(None, "pool:b", "b", None, "T=2", "refused", "no host can run it")]
    result = compare_campaign("c", "bench", runs, [EPS], ["T=1", "T=2"])
    assert result.succeeded == 2 and result.total == 4
    assert [(f["job_id"], f["status"], f["reason"]) for f in result.failures] == [
        ("job-bad", "failed", "exit code 1"), (None, "refused", "no host can run it")]
    assert [g.pool for g in result.groups] == ["a"]
    data = result.to_dict()
    assert data["metrics"][0]["cells"][0]["ci"] is not None and isinstance(data["metrics"][0]["cells"][0]["ci"], tuple)


def test_a_reference_naming_no_group_is_refused_with_the_groups():
    with pytest.raises(UserInputError, match="names no group") as info:
        compare_campaign("c", "bench", _sweep(), [EPS], ["T=1", "T=2"], reference="zz")
    assert "a / Xeon Gold 6338" in (info.value.hint or "")


def test_nothing_succeeded_is_a_clear_error():
    with pytest.raises(UserInputError, match="no results"):
        compare_campaign("c", "bench", [_run("a", CPU_A, "-", [], status="failed")], [EPS], ["-"])


def test_same_input_same_output():
    one = compare_campaign("c", "bench", _sweep(), [EPS], ["T=1", "T=2"]).to_dict()
    two = compare_campaign("c", "bench", _sweep(), [EPS], ["T=1", "T=2"]).to_dict()
    assert one == two
