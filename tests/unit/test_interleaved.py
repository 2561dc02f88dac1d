"""Interleaved A/B comparisons with a scripted job runner: the order, pooling, drift, thresholds, failures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from benchfarm.errors import BenchmarkFailedError, UserInputError
from benchfarm.interleaved.runner import (
    AB_LABEL,
    DEFAULT_AB_MAX_REGRESSION_PCT,
    SIDE_LABEL,
    InterleavedComparison,
    abba_order,
)
from benchfarm.jobs.model import JobRecord, JobStatus, RepetitionRecord

SPEC: dict[str, Any] = {
    "name": "loop", "image": "bench:new", "repetitions": 10, "warmup": 1, "labels": {"team": "perf"},
    "results": {"format": "json-lines", "metrics": {"ms": {"unit": "ms", "direction": "lower"}}},
}


class DriftingFarm:
    """Jobs whose value is the image's level times a machine drift that grows with every job run."""

    def __init__(self, levels: dict[str, float], drift_per_job: float = 0.0, noise: float = 0.002,
                 fail: str | None = None, hosts: tuple[str, ...] = ("h1",), seed: int = 0) -> None:
        self.levels, self.drift, self.noise, self.fail, self.hosts = levels, drift_per_job, noise, fail, hosts
        self.rng = np.random.default_rng(seed)
        self.specs: list[dict[str, Any]] = []

    def submit(self, spec: dict[str, Any]) -> str:
        self.specs.append(spec)
        return f"job-{len(self.specs)}"

    def wait(self, job_id: str) -> JobRecord:
        n = int(job_id.split("-")[1])
        spec = self.specs[n - 1]
        level = self.levels[spec["image"]] * (1 + self.drift * n)
        reps = [RepetitionRecord(index=0, warmup=True, metrics={"ms": 1e9})]  # a warm-up never counts
        reps += [RepetitionRecord(index=i + 1, metrics={"ms": float(level * (1 + self.rng.normal(0, self.noise)))})
                 for i in range(spec["repetitions"])]
        status = JobStatus.FAILED if spec["image"] == self.fail else JobStatus.SUCCEEDED
        host = self.hosts[n % len(self.hosts)]
        return JobRecord(id=job_id, spec=spec, status=status, reason="exit code 1" if self.fail else None,
                         repetitions=reps, host_id=host, hardware_class=f"class-of-{host}")


def test_the_order_alternates_which_side_goes_first_so_a_linear_drift_cancels():
    assert abba_order(3) == ["baseline", "candidate", "candidate", "baseline", "baseline", "candidate"]
    order = abba_order(10)
    assert order.count("baseline") == order.count("candidate") == 10
    slots = {s: [i for i, x in enumerate(order) if x == s] for s in ("baseline", "candidate")}
    assert sum(slots["baseline"]) == sum(slots["candidate"])  # equal mean position over whole ABBA groups
    with pytest.raises(UserInputError, match="--pairs"):
        abba_order(0)


def test_a_drift_that_would_fool_back_to_back_jobs_does_not_fool_alternating_ones():
    # 0.5% slower with every job: run as 10 baseline jobs then 10 candidate jobs, the same image would look
    # about 5% slower; alternating, both sides see the same drift.
    farm = DriftingFarm({"bench:old": 100.0, "bench:new": 100.0}, drift_per_job=0.005)
    result = InterleavedComparison(farm).run({**SPEC, "image": "bench:new"}, "bench:old", pairs=10,
                                             threshold_pct=3.0)
    m = result.comparison.get("ms")
    assert m.verdict == "no change" and abs(m.change_pct) < 1.0, m
    assert not result.comparison.regressed and result.comparison.exit_code == 0
    sequential = [100 * (1 + 0.005 * n) for n in range(1, 21)]
    assert (np.median(sequential[10:]) / np.median(sequential[:10]) - 1) * 100 > 4.5  # what it would have seen


def test_a_planted_slowdown_is_found_and_every_job_is_labelled_with_its_side():
    farm = DriftingFarm({"bench:old": 100.0, "bench:new": 105.0}, drift_per_job=0.003)
    seen: list[str] = []
    result = InterleavedComparison(farm, progress=seen.append).run(SPEC, "bench:old", pairs=4, reps_per_job=2,
                                                                   threshold_pct=3.0, ab_id="ab-1")
    m = result.comparison.get("ms")
    assert m.verdict == "regressed" and 4 < m.change_pct < 6 and m.baseline_n == m.candidate_n == 8
    assert result.comparison.exit_code == 1 and not m.needs_confirmation  # both sides ran now: nothing to re-run
    images = [s["image"] for s in farm.specs]
    assert images == ["bench:old", "bench:new", "bench:new", "bench:old"] * 2
    assert all(s["repetitions"] == 2 and s["warmup"] == 1 for s in farm.specs)
    assert [s["labels"][SIDE_LABEL] for s in farm.specs][:2] == ["baseline", "candidate"]
    assert all(s["labels"][AB_LABEL] == "ab-1" and s["labels"]["team"] == "perf" for s in farm.specs)
    assert result.jobs == {"baseline": ["job-1", "job-4", "job-5", "job-8"],
                           "candidate": ["job-2", "job-3", "job-6", "job-7"]}
    assert len(seen) == 8 and seen[0].startswith("1/8  baseline job-1 on h1: ms=")
    assert result.to_dict()["metrics"][0]["verdict"] == "regressed" and result.warnings == []


def test_the_threshold_decides_between_a_real_change_and_a_tolerated_one():
    farm = DriftingFarm({"bench:old": 100.0, "bench:new": 104.0})
    run = InterleavedComparison(farm).run
    assert run(SPEC, "bench:old", pairs=4, threshold_pct=5.0).comparison.get("ms").verdict == "no change"
    assert run(SPEC, "bench:old", pairs=4, threshold_pct=3.0).comparison.get("ms").verdict == "regressed"
    with_spec = {**SPEC, "thresholds": {"max_regression_pct": 10.0}}
    assert run(with_spec, "bench:old", pairs=4).comparison.get("ms").max_regression_pct == 10.0
    assert DEFAULT_AB_MAX_REGRESSION_PCT < 5.0


def test_a_failed_job_stops_the_comparison_naming_the_job_and_its_side():
    farm = DriftingFarm({"bench:old": 100.0, "bench:new": 100.0}, fail="bench:new")
    with pytest.raises(BenchmarkFailedError, match=r"candidate job job-2 failed: exit code 1") as e:
        InterleavedComparison(farm).run(SPEC, "bench:old", pairs=3)
    assert "benchfarm jobs logs job-2" in e.value.hint
    assert len(farm.specs) == 2  # nothing more was submitted


def test_jobs_on_different_hardware_classes_are_warned_about():
    farm = DriftingFarm({"bench:old": 100.0, "bench:new": 100.0}, hosts=("h1", "h2"))
    result = InterleavedComparison(farm).run(SPEC, "bench:old", pairs=2)
    assert sorted(result.hosts) == ["h1", "h2"]
    assert result.warnings and "2 hardware classes" in result.warnings[0]


def test_a_spec_without_a_directed_metric_or_a_bad_count_is_refused_before_any_job():
    farm = DriftingFarm({"bench:old": 1.0, "bench:new": 1.0})
    bare = {**SPEC, "results": {"format": "json-lines", "metrics": {}}}
    with pytest.raises(UserInputError, match="no metric with a direction"):
        InterleavedComparison(farm).run(bare, "bench:old")
    with pytest.raises(UserInputError, match="--reps-per-job"):
        InterleavedComparison(farm).run(SPEC, "bench:old", reps_per_job=0)
    assert farm.specs == []


def test_with_detect_a_quiet_farm_stops_as_soon_as_the_power_table_is_satisfied():
    # 0.5% noise: the shipped table's 0.5% row catches 5% at a 3% threshold with a handful of values a side
    farm = DriftingFarm({"bench:old": 100.0, "bench:new": 105.0}, noise=0.005)
    seen: list[str] = []
    result = InterleavedComparison(farm, progress=seen.append).run(SPEC, "bench:old", pairs=4, threshold_pct=3.0,
                                                                   detect_pct=5.0, max_pairs=30)
    power = result.power
    assert power is not None and power["enough"] is True and power["detect_pct"] == 5.0
    runs = power["jobs_per_side"]
    assert 4 <= runs < 30 and runs % 2 == 0 and len(farm.specs) == 2 * runs  # whole A B B A blocks
    assert runs >= power["needed"]["ms"], power
    assert result.comparison.get("ms").verdict == "regressed"
    assert any("the power table asks for ms:" in line for line in seen)


def test_with_detect_a_noisy_farm_runs_to_the_maximum_and_warns():
    farm = DriftingFarm({"bench:old": 100.0, "bench:new": 100.0}, noise=0.30)  # beyond the table's noisiest row
    result = InterleavedComparison(farm).run(SPEC, "bench:old", pairs=2, threshold_pct=3.0, detect_pct=5.0,
                                             max_pairs=6)
    assert result.power == {"detect_pct": 5.0, "power": 0.9, "jobs_per_side": 6, "needed": {"ms": None},
                            "enough": False}
    assert len(farm.specs) == 12 and any("may be missed" in w for w in result.warnings)


def test_with_detect_a_change_the_table_has_no_row_for_is_refused_before_any_job():
    farm = DriftingFarm({"bench:old": 100.0, "bench:new": 100.0})
    with pytest.raises(UserInputError, match="no row for catching a 7% change at a 3% threshold"):
        InterleavedComparison(farm).run(SPEC, "bench:old", threshold_pct=3.0, detect_pct=7.0)
    assert farm.specs == []
