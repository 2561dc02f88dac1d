"""`benchfarm ab` on the real farm: alternating jobs of two images through the API and the machine's worker.

The benchmark is the CPU time of a busybox loop (as test_bisect.py); the candidate image loops twice as long
as the baseline. The same image on both sides gives no change; the slow one regresses, exit code 1, with the
jobs in A B B A order, each labelled with its side, and JUnit XML naming the failure.
"""

from __future__ import annotations

import itertools
import json
import uuid
from xml.etree import ElementTree as ET

import pytest

from benchfarm.cli.main import main
from benchfarm.composition import Farm
from benchfarm.interleaved.runner import AB_LABEL, SIDE_LABEL
from tests.integration.jobs_support import busybox_spec, write_spec
from tests.integration.test_bisect import SCRIPT, _build

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def loop_images(docker_client, busybox_image):
    repository = f"benchfarm-test/h15-ab-{uuid.uuid4().hex[:6]}"
    tags = {"fast": _build(docker_client, busybox_image, repository, "fast", 60_000),
            "slow": _build(docker_client, busybox_image, repository, "slow", 120_000)}
    try:
        yield tags
    finally:
        for tag in tags.values():
            docker_client.images.remove(tag, force=True)


def _spec(tmp_path, image: str):
    return write_spec(tmp_path, busybox_spec(
        image, SCRIPT, name=f"h15-ab-{uuid.uuid4().hex[:6]}", warmup=0, timeout_s=60,
        results={"format": "json-lines", "metrics": {"ms": {"unit": "ms", "direction": "lower"}}}))


def test_a_slower_candidate_regresses_in_alternating_jobs_and_the_junit_names_it(loop_images, settings,
                                                                                  tmp_path, capsys):
    junit = tmp_path / "ab.xml"
    rc = main(["ab", str(_spec(tmp_path, loop_images["slow"])), "--baseline-image", loop_images["fast"],
               "--pairs", "3", "--reps-per-job", "2", "--json", "--junit", str(junit)])
    captured = capsys.readouterr()
    assert rc == 1, captured.err[-3000:]
    result = json.loads(captured.out)
    m, = result["metrics"]
    assert m["verdict"] == "regressed" and m["change_pct"] > 50 and m["p_value"] < 0.05, m
    assert m["baseline_n"] == m["candidate_n"] == 6 and m["max_regression_pct"] == 3.0
    farm = Farm(settings)
    try:
        jobs = {j: farm.repository.get(j) for side in ("baseline", "candidate") for j in result["jobs"][side]}
    finally:
        farm.close()
    by_order = sorted(jobs.values(), key=lambda j: j.submitted_at)
    assert [j.labels[SIDE_LABEL] for j in by_order] == ["baseline", "candidate", "candidate", "baseline",
                                                        "baseline", "candidate"]
    assert [j.image_ref for j in by_order][:2] == [loop_images["fast"], loop_images["slow"]]
    assert all(j.status.value == "succeeded" and j.labels[AB_LABEL] == result["ab_id"] for j in by_order)
    assert all(j.started_at >= prev.finished_at for prev, j in itertools.pairwise(by_order))  # one at a time
    failures = ET.parse(junit).getroot().findall(".//testcase/failure")
    assert len(failures) == 1 and (failures[0].get("message") or "").startswith("regression of ms:")


def test_the_same_image_on_both_sides_is_no_change(loop_images, tmp_path, capsys):
    rc = main(["ab", str(_spec(tmp_path, loop_images["fast"])), "--baseline-image", loop_images["fast"],
               "--pairs", "2", "--reps-per-job", "3", "--threshold", "20", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err[-3000:]
    m, = json.loads(captured.out)["metrics"]
    assert m["verdict"] == "no change" and m["max_regression_pct"] == 20.0, m


def test_an_unknown_baseline_image_fails_with_its_name_and_no_traceback(loop_images, tmp_path, capsys):
    rc = main(["ab", str(_spec(tmp_path, loop_images["fast"])), "--baseline-image", "benchfarm-test/none:nope",
               "--pairs", "1"])
    captured = capsys.readouterr()
    assert rc == 2, captured.err[-3000:]
    assert "benchfarm-test/none:nope" in captured.err and "Traceback" not in captured.err


def test_detect_lets_the_power_table_choose_how_many_jobs_run(loop_images, tmp_path, capsys):
    rc = main(["ab", str(_spec(tmp_path, loop_images["slow"])), "--baseline-image", loop_images["fast"],
               "--pairs", "2", "--max-pairs", "6", "--detect", "10", "--threshold", "5", "--json"])
    captured = capsys.readouterr()
    assert rc == 1, captured.err[-3000:]
    result = json.loads(captured.out)
    power = result["power"]
    runs = power["jobs_per_side"]
    assert power["detect_pct"] == 10.0 and runs == len(result["jobs"]["baseline"]) == len(result["jobs"]["candidate"])
    assert 2 <= runs <= 6 and runs % 2 == 0, power  # whole A B B A blocks
    if power["enough"]:  # stopped at the first block whose values the table called enough
        assert power["needed"]["ms"] <= runs, power
    else:  # this machine's loop was too noisy for the table: ran to --max-pairs and said so
        assert runs == 6 and any("may be missed" in w for w in result["warnings"]), result
    assert "the power table asks for ms:" in captured.err
    assert result["metrics"][0]["verdict"] == "regressed"
