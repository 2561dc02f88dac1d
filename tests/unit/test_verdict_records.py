"""Baseline resolution and job-record comparison on records built in memory (no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from benchfarm.analysis import REGRESSED, parse_baseline_ref
from benchfarm.analysis.baselines import CONFIRMATION_LABEL, hardware_class, hardware_from_hosts, resolve_baseline
from benchfarm.analysis.job_compare import compare_records, confirm_with_rerun, measured_values
from benchfarm.analysis.verdict import job_verdict
from benchfarm.errors import NotFoundError, UserInputError
from benchfarm.jobs.model import JobRecord, JobStatus, RepetitionRecord
from benchfarm.jobs.repository import JobRepository
from benchfarm.scheduler.capabilities import GpuInfo, HostCapabilities
from tests.support.memory_kv import MemoryKV

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BASE_VALUES = [100.0, 101.0, 99.0, 100.5, 99.5, 100.2]


def _spec(name: str = "loop", direction: str = "lower", max_pct: float = 5.0, per_metric=None) -> dict:
    return {
        "name": name,
        "results": {"metrics": {"ms": {"unit": "ms", "direction": direction}}},
        "thresholds": {"max_regression_pct": max_pct, "per_metric": per_metric or {}},
    }


def _job(job_id: str, values: list[float], *, minute: int, name: str = "loop", status=JobStatus.SUCCEEDED,
         labels=None, host="host-a", hw: str | None = "cpu-x", warmup_value: float | None = 1e6,
         **spec_kw) -> JobRecord:
    reps = []
    if warmup_value is not None:
        reps.append(RepetitionRecord(index=0, warmup=True, metrics={"ms": warmup_value}))
    for v in values:
        reps.append(RepetitionRecord(index=len(reps), metrics={"ms": v}))
    return JobRecord(id=job_id, spec=_spec(name, **spec_kw), status=status, labels=labels or {}, host_id=host,
                     hardware_class=hw, submitted_at=T0 + timedelta(minutes=minute), repetitions=reps)


def _repo(*jobs: JobRecord) -> JobRepository:
    repo = JobRepository(MemoryKV())
    for j in jobs:
        repo.create(j)
    return repo


# --- resolution -------------------------------------------------------------------------------------------------


def test_job_id_reference_returns_that_job():
    base, cand = _job("job-a", BASE_VALUES, minute=0), _job("job-b", BASE_VALUES, minute=5)
    assert resolve_baseline(_repo(base, cand), parse_baseline_ref("job-a"), cand).id == "job-a"


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.RUNNING, JobStatus.CANCELLED])
def test_job_id_reference_to_an_unsucceeded_job_is_refused(status):
    base, cand = _job("job-a", BASE_VALUES, minute=0, status=status), _job("job-b", BASE_VALUES, minute=5)
    with pytest.raises(UserInputError, match=f"job-a is {status.value}"):
        resolve_baseline(_repo(base, cand), parse_baseline_ref("job-a"), cand)


def test_a_job_is_never_its_own_baseline():
    cand = _job("job-b", BASE_VALUES, minute=5)
    with pytest.raises(UserInputError, match="candidate job itself"):
        resolve_baseline(_repo(cand), parse_baseline_ref("job-b"), cand)


def test_label_reference_takes_the_latest_succeeded_job_of_the_same_spec():
    jobs = [
        _job("job-old", BASE_VALUES, minute=0, labels={"release": "2.1"}),
        _job("job-new", BASE_VALUES, minute=2, labels={"release": "2.1"}),
        _job("job-failed", BASE_VALUES, minute=3, labels={"release": "2.1"}, status=JobStatus.FAILED),
        _job("job-other-spec", BASE_VALUES, minute=4, labels={"release": "2.1"}, name="other"),
        _job("job-other-label", BASE_VALUES, minute=4, labels={"release": "2.2"}),
    ]
    cand = _job("job-cand", BASE_VALUES, minute=10)
    assert resolve_baseline(_repo(*jobs, cand), parse_baseline_ref("label:release=2.1"), cand).id == "job-new"


def test_git_reference_matches_branch_and_ref_labels_with_a_short_hash():
    full = "3f2c1ab9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8"
    jobs = [
        _job("job-main", BASE_VALUES, minute=0, labels={"git_branch": "main", "git_ref": full}),
        _job("job-feature", BASE_VALUES, minute=1, labels={"git_branch": "feature", "git_ref": full}),
        _job("job-main-other", BASE_VALUES, minute=2, labels={"git_branch": "main", "git_ref": "9999999aaaa"}),
    ]
    cand = _job("job-cand", BASE_VALUES, minute=10)
    assert resolve_baseline(_repo(*jobs, cand), parse_baseline_ref("main@3f2c1ab"), cand).id == "job-main"
    with pytest.raises(NotFoundError, match="main@abcdef0") as info:
        resolve_baseline(_repo(*jobs, cand), parse_baseline_ref("main@abcdef0"), cand)
    assert "git_branch=main" in (info.value.hint or "")


def test_latest_is_same_spec_same_hardware_before_the_candidate_and_never_a_confirmation_run():
    jobs = [
        _job("job-right", BASE_VALUES, minute=0),
        _job("job-other-hw", BASE_VALUES, minute=1, hw="cpu-y + NVIDIA H100"),
        _job("job-confirm", BASE_VALUES, minute=2, labels={CONFIRMATION_LABEL: "job-zzz"}),
        _job("job-after", BASE_VALUES, minute=20),
    ]
    cand = _job("job-cand", BASE_VALUES, minute=10)
    assert resolve_baseline(_repo(*jobs, cand), parse_baseline_ref("latest"), cand).id == "job-right"


def test_latest_without_stored_hardware_class_falls_back_to_the_registered_host():
    class Hosts:
        def get(self, host_id: str) -> HostCapabilities:
            if host_id == "gone":
                raise NotFoundError("no registered host 'gone'")
            model = "cpu-x" if host_id in ("host-a", "host-b") else "cpu-z"
            return HostCapabilities(host_id=host_id, cpu_model=model)

    jobs = [
        _job("job-same-class", BASE_VALUES, minute=0, host="host-b", hw=None),
        _job("job-other-class", BASE_VALUES, minute=1, host="host-c", hw=None),
        _job("job-gone-host", BASE_VALUES, minute=2, host="gone", hw=None),
    ]
    cand = _job("job-cand", BASE_VALUES, minute=10, host="host-a", hw=None)
    repo = _repo(*jobs, cand)
    baseline = resolve_baseline(repo, parse_baseline_ref("latest"), cand, hardware_from_hosts(Hosts()))
    assert baseline.id == "job-same-class"
    # with no way to learn classes, only the very same host matches
    with pytest.raises(NotFoundError, match="no succeeded job of spec 'loop'"):
        resolve_baseline(repo, parse_baseline_ref("latest"), cand)


def test_hardware_class_is_cpu_model_plus_sorted_gpu_models():
    caps = HostCapabilities(host_id="h", cpu_model="AMD EPYC 9654", gpus=[
        GpuInfo(index=1, model="NVIDIA L4"), GpuInfo(index=0, model="NVIDIA H100 80GB HBM3")])
    assert hardware_class(caps) == "AMD EPYC 9654 + NVIDIA H100 80GB HBM3, NVIDIA L4"
    assert hardware_class(HostCapabilities(host_id="h", cpu_model="Xeon")) == "Xeon"


# --- comparison of records --------------------------------------------------------------------------------------


def test_measured_values_exclude_warmups():
    job = _job("job-a", [1.0, 2.0], minute=0, warmup_value=99.0)
    assert measured_values(job) == {"ms": [1.0, 2.0]}


def test_identical_records_give_no_change_and_warmups_do_not_count():
    base = _job("job-a", BASE_VALUES, minute=0, warmup_value=1e6)
    cand = _job("job-b", BASE_VALUES, minute=5, warmup_value=1.0)  # a wildly different warm-up is ignored
    result = compare_records(base, cand)
    m = result.get("ms")
    assert m.verdict == "no change" and m.baseline_n == m.candidate_n == 6 and result.exit_code == 0


def test_a_slower_lower_is_better_metric_regresses_by_the_spec_threshold():
    base = _job("job-a", BASE_VALUES, minute=0)
    cand = _job("job-b", [v * 1.3 for v in BASE_VALUES], minute=5)
    m = compare_records(base, cand).get("ms")
    assert m.verdict == REGRESSED and m.needs_confirmation and m.change_pct == pytest.approx(30.0, abs=0.5)
    # the same change is within a 40% per-metric threshold
    lenient = _job("job-c", [v * 1.3 for v in BASE_VALUES], minute=6, per_metric={"ms": 40.0})
    assert compare_records(base, lenient).get("ms").verdict == "no change"


def test_direction_comes_from_the_candidate_spec():
    base = _job("job-a", BASE_VALUES, minute=0, direction="higher")
    cand = _job("job-b", [v * 1.3 for v in BASE_VALUES], minute=5, direction="higher")
    assert compare_records(base, cand).get("ms").verdict == "improved"


def test_an_unsucceeded_job_cannot_be_compared():
    base = _job("job-a", BASE_VALUES, minute=0)
    cand = _job("job-b", BASE_VALUES, minute=5, status=JobStatus.FAILED)
    with pytest.raises(UserInputError, match="candidate job job-b is failed"):
        compare_records(base, cand)


def test_a_rerun_that_does_not_reproduce_clears_the_suspicion():
    base = _job("job-a", BASE_VALUES, minute=0)
    cand = _job("job-b", [v * 1.3 for v in BASE_VALUES], minute=5)
    calls = []

    def rerun() -> JobRecord:
        calls.append(1)
        return _job("job-r", [v + 0.1 for v in BASE_VALUES], minute=6)

    settled, again = confirm_with_rerun(compare_records(base, cand), base, rerun)
    assert calls == [1] and again is not None and again.id == "job-r"
    m = settled.get("ms")
    assert m.verdict == "no change" and m.confirmed is False and settled.exit_code == 0


def test_no_rerun_without_a_suspected_regression():
    base = _job("job-a", BASE_VALUES, minute=0)
    first = compare_records(base, _job("job-b", BASE_VALUES, minute=5))
    settled, again = confirm_with_rerun(first, base, lambda: pytest.fail("must not re-run"))
    assert again is None and settled is first


def test_job_verdict_confirms_with_a_labelled_rerun_and_refuses_an_unrelated_one():
    base = _job("job-a", BASE_VALUES, minute=0)
    cand = _job("job-b", [v * 1.3 for v in BASE_VALUES], minute=5)
    rerun = _job("job-r", [v * 1.31 for v in BASE_VALUES], minute=6, labels={CONFIRMATION_LABEL: "job-b"})
    stranger = _job("job-s", BASE_VALUES, minute=7)
    repo = _repo(base, cand, rerun, stranger)
    v = job_verdict(repo, "job-b", "job-a", "job-r")
    m = v.comparison.get("ms")
    assert m.verdict == REGRESSED and m.confirmed is True and v.to_dict()["rerun_id"] == "job-r"
    assert 'failures="1"' in v.junit()
    with pytest.raises(UserInputError, match="not a confirmation run"):
        job_verdict(repo, "job-b", "job-a", "job-s")
    # 'latest' from the re-run's point of view never picks the candidate's confirmation run
    assert job_verdict(repo, "job-b", "latest").baseline.id == "job-a"


# --- adaptive repetitions over a job's metrics ---------------------------------------------------------------------

from benchfarm.analysis.adaptive import CvTarget, adaptive_state  # noqa: E402


@pytest.mark.parametrize(
    ("values", "measured", "expected"),
    [
        ({"a": [10.0, 10.0]}, 2, (True, False)),  # below the minimum of 3
        ({"a": [10.0, 10.1, 9.9]}, 3, (False, True)),  # cv ~1% <= 2%
        ({"a": [10.0, 10.1, 9.9], "b": [1.0, 2.0, 3.0]}, 3, (True, False)),  # b is still noisy
        ({"a": [1.0, 2.0, 3.0, 4.0, 5.0]}, 5, (False, False)),  # the maximum reached without converging
        ({}, 5, (False, False)),  # nothing reported: stop at the maximum, not converged
    ],
)
def test_adaptive_state_goes_on_while_any_metric_is_noisy(values, measured, expected):
    assert tuple(adaptive_state(values, rule=CvTarget(0.02), min_n=3, max_n=5, measured=measured)) == expected
