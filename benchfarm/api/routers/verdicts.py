"""``/jobs/{job_id}/compare`` and ``/jobs/{job_id}/junit``: a job compared with a baseline,
as JSON or as JUnit XML for CI servers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from benchfarm.analysis.baselines import hardware_from_hosts
from benchfarm.analysis.verdict import JobVerdict, job_verdict
from benchfarm.api.dependencies import Authenticated, Deps, JobId
from benchfarm.api.errors import error_responses
from benchfarm.api.models import VerdictBody

router = APIRouter(prefix="/jobs", tags=["verdicts"], dependencies=[Authenticated],
                   responses=error_responses(401, 404, 422, 503))

BaselineRef = Annotated[str, Query(description="baseline reference: a job id, label:KEY=VALUE, BRANCH@GITREF "
                                               "or latest")]
RerunId = Annotated[str | None, Query(description="a confirmation re-run of the job (label benchfarm_confirmation_of="
                                                  "<job id>) settling suspected regressions")]


class XmlResponse(Response):
    media_type = "application/xml"


def _verdict(d: Deps, job_id: str, baseline: str, rerun: str | None) -> JobVerdict:
    return job_verdict(d.repo, job_id, baseline, rerun, hardware_of=hardware_from_hosts(d.hosts))


@router.get("/{job_id}/compare", response_model=VerdictBody)
def compare_job(d: Deps, job_id: JobId, baseline: BaselineRef = "latest", rerun: RerunId = None) -> VerdictBody:
    """Per metric: ratio of medians with its 95% CI, Mann-Whitney p-value and verdict against the baseline."""
    return VerdictBody.model_validate(_verdict(d, job_id, baseline, rerun).to_dict())


@router.get("/{job_id}/junit", response_class=XmlResponse)
def job_junit(d: Deps, job_id: JobId, baseline: BaselineRef = "latest", rerun: RerunId = None) -> XmlResponse:
    """The comparison as JUnit XML: one test case per metric, a failure for each regressed one."""
    return XmlResponse(_verdict(d, job_id, baseline, rerun).junit())
