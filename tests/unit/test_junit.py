"""JUnit XML of a comparison: parses, has the structure Jenkins' junit step reads."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from benchfarm.analysis.compare import Comparison, compare_jobs
from benchfarm.analysis.junit import to_junit_xml

SPECS = {"time_s": {"direction": "lower", "unit": "s"}, "ops_per_s": {"direction": "higher", "unit": "op/s"}}


def job(seed: int, work: float = 1.0) -> dict[str, list[float]]:
    times = 10.0 * work * np.random.default_rng(seed).normal(1.0, 0.02, size=10)
    return {"time_s": list(times), "ops_per_s": list(1000.0 / times), "extra": [1.0, 2.0]}


def parse(xml: str) -> ET.Element:
    assert xml.startswith("<?xml")
    return ET.fromstring(xml.encode())


def suite_of(root: ET.Element) -> ET.Element:
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    return suites[0]


def test_regression_is_a_failure_with_the_numbers() -> None:
    comparison = compare_jobs(job(1), job(2, work=1.2), SPECS, {"time_s": 5.0, "ops_per_s": 5.0})
    root = parse(to_junit_xml(comparison, "sysbench-cpu", "job-42"))
    suite = suite_of(root)
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["ops_per_s", "time_s", "extra"]
    assert suite.get("tests") == root.get("tests") == "3"
    assert suite.get("failures") == root.get("failures") == "2"
    assert suite.get("errors") == "0" and suite.get("skipped") == "1"
    assert suite.find("properties/property[@name='benchfarm.job_id']").get("value") == "job-42"
    time_case = cases[1]
    assert time_case.get("classname") == "benchfarm.sysbench-cpu"
    failure = time_case.find("failure")
    assert failure is not None and failure.get("type") == "regression"
    m = comparison.get("time_s")
    message = failure.get("message")
    for number in (m.baseline_median, m.candidate_median, m.ratio, *m.ratio_ci95, m.p_value):
        assert f"{number:.6g}" in message
    assert "threshold 5%" in message and "unconfirmed regression" in message
    assert cases[2].find("skipped").get("message").startswith("no direction declared")


def test_no_regression_has_no_failure_and_keeps_numbers_in_system_out() -> None:
    comparison = compare_jobs(job(1), job(2), SPECS)
    suite = suite_of(parse(to_junit_xml(comparison, "aa", "job-1")))
    assert suite.get("failures") == "0"
    for case in suite.findall("testcase"):
        assert case.find("failure") is None
    out = suite.find("testcase[@name='time_s']/system-out").text
    assert "verdict: no change" in out and "baseline median" in out


def test_confirmed_regression_message_is_not_marked_unconfirmed() -> None:
    from benchfarm.analysis.compare import confirm

    base = job(1)
    settled = confirm(compare_jobs(base, job(2, 1.2), SPECS), compare_jobs(base, job(3, 1.2), SPECS))
    suite = suite_of(parse(to_junit_xml(settled, "s", "job-1")))
    message = suite.find("testcase[@name='time_s']/failure").get("message")
    assert message.startswith("regression of time_s")


@pytest.mark.parametrize("name", ["a<b>&\"c'", "ctrl\x01char", "ünïcödé"])
def test_odd_names_still_give_valid_xml(name: str) -> None:
    comparison = compare_jobs({name: [1.0, 2.0, 3.0]}, {name: [1.0, 2.0, 3.0]}, {name: {"direction": "lower"}})
    suite = suite_of(parse(to_junit_xml(comparison, name, "job-\x02x")))
    assert suite.find("testcase").get("name") == name.replace("\x01", "\ufffd")


def test_empty_comparison_is_a_valid_empty_suite() -> None:
    suite = suite_of(parse(to_junit_xml(Comparison(metrics=[]), "empty", "job-0")))
    assert suite.get("tests") == "0" and suite.findall("testcase") == []
