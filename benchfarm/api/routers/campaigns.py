"""``/campaigns``: one spec on many targets and parameter points; progress, comparison, JUnit, cancel.

Who sees what follows the jobs' rules (:mod:`benchfarm.api.routers.jobs`): a campaign records
its submitter's team and visibility (private by default), and so does each of its jobs. A
submit token reads its team's and public campaigns and cancels its team's only; operate and
admin tokens reach every campaign, and their cancel of another team's is audited.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict

from benchfarm.access.tokens import Principal
from benchfarm.api.dependencies import JOB_ID_PATTERN, Authenticated, Caller, Deps
from benchfarm.api.errors import error_responses
from benchfarm.api.routers.verdicts import XmlResponse
from benchfarm.api.team_access import require_own_team_or_operator, visible_to
from benchfarm.campaigns.junit import campaign_junit
from benchfarm.campaigns.model import CampaignRecord, CampaignRequest, CampaignSummary, CampaignView
from benchfarm.campaigns.pricing import parse_prices
from benchfarm.campaigns.service import CampaignService
from benchfarm.errors import ForbiddenError, ServiceUnavailableError

router = APIRouter(prefix="/campaigns", tags=["campaigns"], dependencies=[Authenticated],
                   responses=error_responses(401, 403, 503))

CampaignId = Annotated[str, Path(pattern=JOB_ID_PATTERN, max_length=200,
                                 description="a campaign id, e.g. camp-20261201120000-1a2b3c4d")]


class ComparisonBody(BaseModel):
    """``GET /campaigns/{id}/compare`` (the shape ``benchfarm campaign compare --json`` prints): groups (pool /
    hardware class, price), per metric the cells (median and 95% CI, ratio to the reference and its CI,
    performance per USD/h), scaling curves of a numeric sweep, and the jobs that failed."""

    model_config = ConfigDict(extra="allow")

    campaign_id: str
    reference: str


def _service(d: Deps) -> CampaignService:
    if d.campaigns is None:
        raise ServiceUnavailableError("this API was built without campaigns",
                                      hint="serve it with `benchfarm api serve`")
    return d.campaigns


def _readable(d: Deps, caller: Principal, campaign_id: str, doing: str = "see") -> CampaignRecord:
    record = _service(d).campaigns.get(campaign_id)
    if not visible_to(caller, record.team, record.visibility):
        raise ForbiddenError(f"campaign {campaign_id} is a private campaign of team {record.team}: {caller.user} "
                             f"of team {caller.team} may not {doing} it",
                             hint="ask its team to submit it with visibility=public, or use a token of that team")
    return record


@router.post("", status_code=202, response_model=CampaignView, responses=error_responses(404, 409, 422, 502))
def submit_campaign(d: Deps, caller: Caller, request: CampaignRequest,
                    queue_anyway: Annotated[bool, Query(description="queue even if no host can run a job now")] = False,
                    visibility: Annotated[Literal["private", "public"],
                                          Query(description="private: only the submitter's team (and operators) "
                                                            "see it and its jobs")] = "private",
                    ) -> CampaignView:
    """Create a campaign: one job per (target, matrix point), each labelled with the campaign, target and point.

    Answers 202 once the record and every job are stored (a job the farm refused is listed with its reason).
    409: some target has no host that can run the job (unless ``queue_anyway``); 422: an invalid spec, target or
    matrix (a matrix key must be an env variable of the spec); 404: the image is not on the farm.
    """
    service = _service(d)
    record = service.create(request, queue_anyway=queue_anyway, submitted_by=caller.user, team=caller.team,
                            visibility=visibility)
    return service.view(record)


@router.get("", response_model=list[CampaignSummary], responses=error_responses(422))
def list_campaigns(d: Deps, caller: Caller, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[CampaignSummary]:
    """Campaigns the token may see, most recent first, with their jobs counted by status."""
    service = _service(d)
    records = [r for r in service.campaigns.list(limit=limit if caller.sees_all_teams() else 500)
               if visible_to(caller, r.team, r.visibility)][:limit]
    return [CampaignSummary.of(service.view(r)) for r in records]


@router.get("/{campaign_id}", response_model=CampaignView, responses=error_responses(404, 422))
def get_campaign(d: Deps, caller: Caller, campaign_id: CampaignId) -> CampaignView:
    """The campaign and each job's state: target, point, status, host, hardware class, reason."""
    return _service(d).view(_readable(d, caller, campaign_id))


@router.delete("/{campaign_id}", status_code=202, response_model=CampaignView, responses=error_responses(404, 422))
def cancel_campaign(d: Deps, caller: Caller, campaign_id: CampaignId) -> CampaignView:
    """Cancel every unfinished job of the campaign (its own team's, or any for operate and admin, audited)."""
    record = _readable(d, caller, campaign_id, "cancel")
    require_own_team_or_operator(d.audit, caller, kind="campaign", item_id=campaign_id, team=record.team,
                                 verb="cancel", action="campaigns.cancel", path=f"/campaigns/{campaign_id}")
    service = _service(d)
    return service.view(service.cancel(campaign_id))


@router.get("/{campaign_id}/compare", response_model=ComparisonBody, responses=error_responses(404, 422))
def compare_campaign(d: Deps, caller: Caller, campaign_id: CampaignId,
                     reference: Annotated[str | None, Query(max_length=300, description=(
                         "the group others are divided by: its pool, hardware class or 'pool / class' "
                         "(default: the first target's)"))] = None,
                     price: Annotated[list[str] | None, Query(description=(
                         "POOL=USD per host-hour, e.g. a=0.42/h (repeatable); wins over the pool's definition"))
                                      ] = None) -> ComparisonBody:
    """Per metric: each group's median with its 95% CI, the ratio to the reference and its CI, performance per
    dollar, and the scaling curve of a numeric sweep. 422: no job succeeded yet, or a bad reference or price."""
    record = _readable(d, caller, campaign_id)
    comparison = _service(d).compare(record, reference=reference, prices=parse_prices(price or []))
    return ComparisonBody.model_validate(comparison.to_dict())


@router.get("/{campaign_id}/junit", response_class=XmlResponse, responses=error_responses(404, 422))
def campaign_junit_xml(d: Deps, caller: Caller, campaign_id: CampaignId) -> XmlResponse:
    """The campaign as JUnit XML: a suite per target, a case per job; failed jobs are failures naming the reason."""
    return XmlResponse(campaign_junit(_service(d).view(_readable(d, caller, campaign_id))))
