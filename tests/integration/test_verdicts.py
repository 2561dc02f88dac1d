"""Verdicts on the real farm, through the real CLI: A/A gives no change, a planted slowdown regresses.

The benchmark is tests/support/calibrated_loop.py: a busybox shell loop timed against a
reference loop in 100 alternating slices, exact CPU time of its own process, printing
``{"ms": <loop CPU ms per 1000 ms of the reference>}``; lower is better. A raw CPU-time
loop moved by 20-30% between jobs on this VM (2026-12-02: an A/A job pair read 725 and
945 ms); the calibrated one moved by about 1%. The slow variant runs 25% more iterations
against a 10% threshold. Jobs are submitted with ``benchfarm submit --wait --baseline
... --junit ...`` exactly as the README's Jenkins recipe does, and the exit code and
JUnit file are checked.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.integration.jobs_support import busybox_spec, cli, dump, write_spec
from tests.support.calibrated_loop import SCRIPT, calibrated_env

pytestmark = pytest.mark.integration

ITERATIONS = 300_000  # of the loop and of the reference loop, each in 100 slices
SLOW_ITERATIONS = int(ITERATIONS * 1.25)


def _loop_spec(image: str, name: str, iterations: int) -> dict:
    return busybox_spec(
        image,
        SCRIPT,
        name=name,
        env=calibrated_env(iterations, ITERATIONS),
        resources={"cpuset": "1"},
        warmup=1,
        repetitions=6,  # n=6 per side: the rank test can reach p < 0.05 (min two-sided p = 0.0022)
        timeout_s=60,
        results={"format": "json-lines", "metrics": {"ms": {"unit": "ms", "direction": "lower"}}},
        # the calibrated ratio moves by about 1% a repetition; the planted change is 25%
        thresholds={"max_regression_pct": 10.0},
    )


def _junit(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites", ET.tostring(root)[:500]
    return root.find("testsuite")


@pytest.fixture(scope="module")
def baseline_job(farm, busybox_image, tmp_path_factory) -> tuple[str, str]:
    """A baseline run of the loop, labelled like a main-branch CI build; returns (spec name, job id)."""
    name = f"verdict-loop-{uuid.uuid4().hex[:6]}"
    tmp = tmp_path_factory.mktemp("baseline")
    spec = write_spec(tmp, _loop_spec(busybox_image, name, ITERATIONS))
    res = cli("submit", str(spec), "--wait", "--json", "--label", "git_branch=main", "--label", "git_ref=0a1b2c3d4e")
    assert res.returncode == 0, res.stderr[-3000:]
    job = json.loads(res.stdout)
    assert job["status"] == "succeeded" and len([r for r in job["repetitions"] if not r["warmup"]]) == 6, dump(job)
    return name, job["id"]


def test_aa_same_image_twice_is_no_change(busybox_image, baseline_job, tmp_path):
    name, base_id = baseline_job
    spec = write_spec(tmp_path, _loop_spec(busybox_image, name, ITERATIONS))
    junit = tmp_path / "out.xml"
    res = cli("submit", str(spec), "--wait", "--baseline", "main@0a1b2c3", "--junit", str(junit), "--json",
              "--no-confirm", "--label", "BUILD_TAG=jenkins-aa-1")
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    verdict = json.loads(res.stdout)
    assert verdict["baseline_id"] == base_id and verdict["baseline_ref"] == "main@0a1b2c3"
    assert [m["metric"] for m in verdict["metrics"]] == ["ms"]
    assert all(m["verdict"] == "no change" for m in verdict["metrics"]), dump(verdict)
    suite = _junit(junit)
    assert suite.get("tests") == "1" and suite.get("failures") == "0" and suite.get("errors") == "0"
    case = suite.find("testcase")
    assert case.get("name") == "ms" and case.find("failure") is None
    assert "baseline median" in case.find("system-out").text

    # `benchfarm compare` gives the same verdict, and the API serves the same JUnit
    res2 = cli("compare", verdict["job_id"], "--baseline", base_id, "--json", "--no-confirm")
    assert res2.returncode == 0, res2.stderr[-2000:]
    assert json.loads(res2.stdout)["metrics"][0]["verdict"] == "no change"
    from benchfarm.client import ApiClient
    from benchfarm.settings import get_settings

    served = ApiClient.from_settings(get_settings()).get(f"/jobs/{verdict['job_id']}/junit", baseline=base_id).text
    assert served == junit.read_text()


def test_planted_slowdown_regresses_with_confirmation(busybox_image, baseline_job, tmp_path):
    name, base_id = baseline_job
    spec = write_spec(tmp_path, _loop_spec(busybox_image, name, SLOW_ITERATIONS))
    junit = tmp_path / "out.xml"
    res = cli("submit", str(spec), "--wait", "--baseline", base_id, "--junit", str(junit), "--json", "--confirm",
              timeout=400)
    assert res.returncode == 1, f"exit {res.returncode}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    verdict = json.loads(res.stdout)
    m = verdict["metrics"][0]
    assert m["verdict"] == "regressed" and m["confirmed"] is True, dump(verdict)
    assert m["change_pct"] > 10.0 and m["p_value"] < 0.05
    assert verdict["rerun_id"] and m["rerun"]["verdict"] == "regressed"
    suite = _junit(junit)
    assert suite.get("failures") == "1"
    failure = suite.find("testcase").find("failure")
    assert failure is not None and "regression of ms" in failure.get("message")
    assert "baseline median" in failure.get("message") and "unconfirmed" not in failure.get("message")


def test_failed_job_with_baseline_exits_2_with_an_error_junit(busybox_image, baseline_job, tmp_path):
    name, base_id = baseline_job
    spec = write_spec(tmp_path, busybox_spec(busybox_image, "exit 3", name=name, warmup=0, repetitions=1))
    junit = tmp_path / "out.xml"
    res = cli("submit", str(spec), "--wait", "--baseline", base_id, "--junit", str(junit))
    assert res.returncode == 2, f"exit {res.returncode}\n{res.stderr[-3000:]}"
    assert "exit code 3" in res.stderr
    suite = _junit(junit)
    assert suite.get("errors") == "1" and suite.find("testcase").find("error") is not None


def test_unknown_baseline_exits_2(busybox_image, tmp_path):
    spec = write_spec(tmp_path, _loop_spec(busybox_image, f"verdict-none-{uuid.uuid4().hex[:6]}", 1000))
    res = cli("submit", str(spec), "--wait", "--baseline", "latest", "--no-confirm")
    assert res.returncode == 2, f"exit {res.returncode}\n{res.stderr[-3000:]}"
    assert "no succeeded job of spec" in res.stderr


@pytest.mark.parametrize(("target_cv", "runs", "converged"), [(0.5, 3, True), (0.000001, 4, False)])
def test_adaptive_repetitions_record_how_many_ran_and_convergence(busybox_image, tmp_path, target_cv, runs,
                                                                   converged):
    spec = _loop_spec(busybox_image, f"verdict-adaptive-{uuid.uuid4().hex[:6]}", ITERATIONS)
    spec["adaptive"] = {"target_cv": target_cv, "min_repetitions": 3, "max_repetitions": 4}
    if not converged:  # values spread over 100..149: a CV of 1e-6 is out of reach
        spec["command"] = ["sh", "-c", 'echo "{\\"ms\\": $(( RANDOM % 50 + 100 ))}"']
    res = cli("submit", str(write_spec(tmp_path, spec)), "--wait", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    job = json.loads(res.stdout)
    measured = [r for r in job["repetitions"] if not r["warmup"]]
    assert len(measured) == runs and job["repetitions_run"] == runs, dump(job)
    assert job["adaptive_converged"] is converged
    assert job["hardware_class"], dump(job)


def test_adaptive_repetitions_by_power_stop_where_the_power_table_says(busybox_image, tmp_path):
    """The worker reads the shipped power table: a job stops at the count the table gives for its own noise."""
    from benchfarm.analysis.statistics import coefficient_of_variation
    from benchfarm.power.table import load_power_table

    spec = _loop_spec(busybox_image, f"verdict-power-{uuid.uuid4().hex[:6]}", ITERATIONS)
    spec["adaptive"] = {"detect_change_pct": 10.0, "min_repetitions": 3, "max_repetitions": 15}
    spec["thresholds"] = {"max_regression_pct": 5.0}  # the table's row: a 10% change at a 5% threshold
    res = cli("submit", str(write_spec(tmp_path, spec)), "--wait", "--json", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    job = json.loads(res.stdout)
    values = [r["metrics"]["ms"] for r in job["repetitions"] if not r["warmup"]]
    table = load_power_table()
    needed = [table.repetitions_needed(coefficient_of_variation(values[:n]), 10.0, 5.0) for n in
              range(2, len(values) + 1)]
    if job["adaptive_converged"]:
        # it stopped at the first count the table called enough, not later and not sooner
        n = len(values)
        assert needed[-1] is not None and n >= needed[-1], (values, needed)
        assert all(k is None or k > m for m, k in enumerate(needed[:-1], start=2) if m >= 3), (values, needed)
        assert n < 15, dump(job)
    else:  # the machine was too noisy for the table at every count: it ran to the maximum
        assert len(values) == 15 and all(k is None or k > m for m, k in enumerate(needed, start=2)), needed
    assert job["repetitions_run"] == len(values)
