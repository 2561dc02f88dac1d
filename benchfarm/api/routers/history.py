"""``GET /history``: a benchmark's per-job medians of one metric and their change points
(what ``benchfarm history --changes --json`` prints, without storing the change points)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from benchfarm.api.dependencies import Authenticated, Deps
from benchfarm.api.errors import error_responses
from benchfarm.api.overview import HistoryBody, history

router = APIRouter(prefix="/history", tags=["history"], dependencies=[Authenticated],
                   responses=error_responses(401, 403, 422, 502, 503))



@router.get("", response_model=HistoryBody)
def get_history(d: Deps, name: Annotated[str, Query(min_length=1, max_length=200, description="benchmark (spec) name")],
                metric: Annotated[str, Query(min_length=1, max_length=200, description="metric name")],
                host: Annotated[str | None, Query(min_length=1, max_length=200,
                                                  description="only results from this host")] = None,
                hardware_class: Annotated[str | None, Query(alias="class", min_length=1, max_length=200,
                                                            description="only results from this hardware class"
                                                            )] = None,
                branch: Annotated[str | None, Query(min_length=1, max_length=200,
                                                    description="only jobs labelled git_branch=BRANCH")] = None,
                ) -> HistoryBody:
    """One point per succeeded job (oldest first) and the change points found in them. 422: both a host
    and a hardware class."""
    return history(d, name, metric, host=host, hardware_class=hardware_class, branch=branch)
