"""A campaign as JUnit XML for CI servers: one test suite per target, one test case per (target, point) job.

A job that failed or was cancelled is a ``failure`` naming its reason; one the farm refused
to submit is an ``error``; one still running is ``skipped`` (the report was asked early).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

from benchfarm.campaigns.model import CampaignView, point_key

_FAILED = {"failed", "cancelled"}
_NOT_DONE = {"submitted", "queued", "running", "submitting"}


def campaign_junit(view: CampaignView) -> str:
    """The JUnit XML document of ``view``'s jobs."""
    root = ET.Element("testsuites", {"name": f"benchfarm campaign {view.id}"})
    suites: dict[str, ET.Element] = {}
    counts: dict[str, dict[str, int]] = {}
    for job in view.jobs:
        suite = suites.get(job.target)
        if suite is None:
            suite = suites[job.target] = ET.SubElement(root, "testsuite", {"name": f"{view.name} on {job.target}"})
            counts[job.target] = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        c = counts[job.target]
        c["tests"] += 1
        case = ET.SubElement(suite, "testcase", {"classname": f"benchfarm.{view.name}.{job.target}",
                                                 "name": point_key(job.point)})
        detail = f"job {job.job_id or '-'} on host {job.host_id or '-'}: {job.status}" + (
            f" ({job.reason})" if job.reason else "")
        if job.status in _FAILED:
            c["failures"] += 1
            ET.SubElement(case, "failure", {"message": detail[:500], "type": job.status}).text = detail
        elif job.status == "refused":
            c["errors"] += 1
            ET.SubElement(case, "error", {"message": detail[:500], "type": "refused"}).text = detail
        elif job.status in _NOT_DONE:
            c["skipped"] += 1
            ET.SubElement(case, "skipped", {"message": detail[:500]})
        else:
            ET.SubElement(case, "system-out").text = detail
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for target, suite in suites.items():
        for k, v in counts[target].items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("timestamp", view.submitted_at.isoformat(timespec="seconds") if isinstance(
            view.submitted_at, datetime) else str(view.submitted_at))
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
