"""JUnit XML of a comparison, for CI servers (Jenkins' junit step, GitLab, GitHub).

One ``testcase`` per compared metric; a regressed metric carries a ``failure`` whose
message holds the numbers (baseline and candidate medians, ratio and its CI, p-value,
threshold). Metrics that could not be compared are ``skipped`` test cases. The shape
is the one Jenkins' junit plugin reads: ``testsuites/testsuite/testcase`` with
``tests``/``failures``/``errors``/``skipped`` counts on the suite.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from benchfarm.analysis.compare import REGRESSED, Comparison, MetricComparison

# Characters XML 1.0 forbids even escaped (ElementTree would write them as they are).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def to_junit_xml(comparison: Comparison, suite_name: str, job_id: str) -> str:
    """Render ``comparison`` as a JUnit XML document.

    Args:
        comparison: the (possibly confirmed) comparison of a candidate job.
        suite_name: the test suite's name, e.g. the benchmark or spec name.
        job_id: the candidate job's id, recorded as a suite property.

    Returns:
        The document as a string, starting with an XML declaration.
    """
    cases = len(comparison.metrics) + len(comparison.skipped)
    failures = sum(1 for m in comparison.metrics if m.verdict == REGRESSED)
    counts = {"tests": str(cases), "failures": str(failures), "errors": "0", "skipped": str(len(comparison.skipped))}
    root = ET.Element("testsuites", {"name": _safe(f"benchfarm {suite_name}"), **counts, "time": "0"})
    suite = ET.SubElement(root, "testsuite", {"name": _safe(suite_name), **counts, "time": "0"})
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "benchfarm.job_id", "value": _safe(job_id)})
    classname = _safe(f"benchfarm.{suite_name}")
    for metric in comparison.metrics:
        _metric_case(suite, classname, metric)
    for name, reason in sorted(comparison.skipped.items()):
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": _safe(name), "time": "0"})
        ET.SubElement(case, "skipped", {"message": _safe(reason)})
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _metric_case(suite: ET.Element, classname: str, metric: MetricComparison) -> None:
    case = ET.SubElement(suite, "testcase", {"classname": classname, "name": _safe(metric.metric), "time": "0"})
    numbers = metric.numbers_text()
    if metric.verdict == REGRESSED:
        status = "unconfirmed " if metric.needs_confirmation else ""
        message = f"{status}regression of {metric.metric}: {numbers}"
        failure = ET.SubElement(case, "failure", {"message": _safe(message), "type": "regression"})
        failure.text = _safe(f"{message}\n{metric.reason}")
    out = ET.SubElement(case, "system-out")
    out.text = _safe(f"verdict: {metric.verdict}\n{numbers}\n{metric.reason}")


def _safe(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", str(text))
