"""``/jobs/{job_id}/compare`` and ``/jobs/{job_id}/junit``: a job compared with a baseline,
as JSON or as JUnit XML for CI servers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from benchfarm.analysis.baselines import hardware_from_hosts
from benchfarm.analysis.verdict import JobVerdict, job_verdict
from benchfarm.api.dependencies import JOB_ID_PATTERN, Authenticated, Caller, Deps, JobId
from benchfarm.api.errors import error_responses
from benchfarm.api.models import VerdictBody
from benchfarm.api.routers.jobs import readable_job

router = APIRouter(prefix="/jobs", tags=["verdicts"], dependencies=[Authenticated],
                   responses=error_responses(401, 403, 404, 409, 422, 503))

_GIT_NAME = r"[A-Za-z0-9_-]+(?:\.[0-9][A-Za-z0-9_-]*)*(?:/[A-Za-z0-9_-]+(?:\.[0-9][A-Za-z0-9_-]*)*)*"
#: The forms ``benchfarm.analysis.baseline_ref.parse_baseline_ref`` reads, as the OpenAPI document shows them.
#: Documentation only (the parser validates, with a message naming the forms); a little narrower than the
#: parser in corner cases (no surrounding spaces, a '.' in a git name followed by a digit), never wider:
#: tests/unit/test_api_openapi.py checks that whatever matches it parses.
BASELINE_PATTERN = (
    "^(?:latest"
    "|job-[A-Za-z0-9][A-Za-z0-9._-]*"
    "|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    "|label:[A-Za-z0-9][A-Za-z0-9_./-]*=[!-~]+"
    f"|{_GIT_NAME}@{_GIT_NAME})$"
)

BaselineRef = Annotated[str, Query(description="baseline reference: a job id, label:KEY=VALUE, BRANCH@GITREF "
                                               "or latest", json_schema_extra={"pattern": BASELINE_PATTERN})]
RerunId = Annotated[str | None, Query(pattern=JOB_ID_PATTERN, max_length=200,
                                      description="a confirmation re-run of the job (label "
                                                  "benchfarm_confirmation_of=<job id>) settling suspected regressions")]


class XmlResponse(Response):
    media_type = "application/xml"


def _verdict(d: Deps, caller: Caller, job_id: str, baseline: str, rerun: str | None) -> JobVerdict:
    readable_job(d, caller, job_id)
    return job_verdict(d.repo, job_id, baseline, rerun, hardware_of=hardware_from_hosts(d.hosts))


@router.get("/{job_id}/compare", response_model=VerdictBody)
def compare_job(d: Deps, caller: Caller, job_id: JobId, baseline: BaselineRef = "latest",
                rerun: RerunId = None) -> VerdictBody:
    """Per metric: ratio of medians with its 95% CI, Mann-Whitney p-value and verdict against the baseline.

    404: no such job, re-run or baseline. 409: the job or its baseline did not succeed. 422: a malformed
    baseline reference, or a re-run that is not a confirmation run of this job.
    """
    return VerdictBody.model_validate(_verdict(d, caller, job_id, baseline, rerun).to_dict())


@router.get("/{job_id}/junit", response_class=XmlResponse)
def job_junit(d: Deps, caller: Caller, job_id: JobId, baseline: BaselineRef = "latest",
              rerun: RerunId = None) -> XmlResponse:
    """The comparison as JUnit XML: one test case per metric, a failure for each regressed one."""
    return XmlResponse(_verdict(d, caller, job_id, baseline, rerun).junit())
