"""Verdicts on the real farm, through the real CLI: A/A gives no change, a planted slowdown regresses.

The benchmark is a busybox shell loop timed against a reference loop it runs in
alternating slices (20 of each, CPU time of its own process from ``/proc/$$/schedstat``,
in nanoseconds), printing ``{"ms": <loop CPU ms per 1000 ms of the reference>}``; lower is
better. On this VM the CPU time of a fixed loop pinned to one CPU moved by 20-30% between
jobs minutes apart and by about 10% between runs seconds apart (2026-12-02: an A/A job
pair read 725 and 945 ms); the reference slices take the same speed changes as the loop
they alternate with, so the ratio keeps only the faster noise. The slow variant runs 60%
more iterations against a 20% threshold. Jobs are submitted with ``benchfarm submit --wait --baseline
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

pytestmark = pytest.mark.integration

ITERATIONS = 15_000  # per slice: 20 slices of the loop, 20 of the reference (REF, as long as the base loop)
SLOW_ITERATIONS = int(ITERATIONS * 1.6)
SCRIPT = (
    'loop(){ i=0; while [ $i -lt $1 ]; do i=$((i+1)); done; }; a=0; b=0; k=0; '
    'while [ $k -lt 20 ]; do '
    'read s x < /proc/$$/schedstat; loop $REF; read e x < /proc/$$/schedstat; a=$((a+e-s)); '
    'read s x < /proc/$$/schedstat; loop $N; read e x < /proc/$$/schedstat; b=$((b+e-s)); '
    'k=$((k+1)); done; '
    'echo "{\\"ms\\": $(( b*1000/a ))}"'
)


def _loop_spec(image: str, name: str, iterations: int) -> dict:
    return busybox_spec(
        image,
        SCRIPT,
        name=name,
        env={"N": str(iterations), "REF": str(ITERATIONS)},
        resources={"cpuset": "1"},
        warmup=1,
        repetitions=6,  # n=6 per side: the rank test can reach p < 0.05 (min two-sided p = 0.0022)
        timeout_s=60,
        results={"format": "json-lines", "metrics": {"ms": {"unit": "ms", "direction": "lower"}}},
        # the calibrated ratio still moves by about 8% a repetition here; the planted change is 60%
        thresholds={"max_regression_pct": 20.0},
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
    assert m["change_pct"] > 20.0 and m["p_value"] < 0.05
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
