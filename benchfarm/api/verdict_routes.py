"""Verdict routes: a job compared with a baseline, as JSON or as JUnit XML for CI servers.

No ``from __future__ import annotations`` here: the ``Deps`` annotation is passed in
by :func:`register` and FastAPI must see the real object, not a string.
"""

from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.responses import Response

from benchfarm.analysis.baselines import hardware_from_hosts
from benchfarm.analysis.verdict import job_verdict

_BASELINE_HELP = "baseline reference: a job id, label:KEY=VALUE, BRANCH@GITREF or latest"
_RERUN_HELP = "a confirmation re-run of the job (label benchfarm_confirmation_of=<job id>) settling suspected regressions"


def register(app: FastAPI, Auth: Any, Deps: Any) -> None:
    """Add ``GET /jobs/{id}/compare`` and ``GET /jobs/{id}/junit`` to ``app``."""

    @app.get("/jobs/{job_id}/compare", dependencies=[Auth], tags=["verdicts"])
    def compare_job(d: Deps, job_id: str,
                    baseline: Annotated[str, Query(description=_BASELINE_HELP)] = "latest",
                    rerun: Annotated[str | None, Query(description=_RERUN_HELP)] = None) -> dict[str, Any]:
        """Per metric: ratio of medians with its 95% CI, Mann-Whitney p-value and verdict against the baseline."""
        return job_verdict(d.repo, job_id, baseline, rerun, hardware_of=hardware_from_hosts(d.hosts)).to_dict()

    @app.get("/jobs/{job_id}/junit", dependencies=[Auth], tags=["verdicts"],
             response_class=Response, responses={200: {"content": {"application/xml": {}}}})
    def job_junit(d: Deps, job_id: str,
                  baseline: Annotated[str, Query(description=_BASELINE_HELP)] = "latest",
                  rerun: Annotated[str | None, Query(description=_RERUN_HELP)] = None) -> Response:
        """The comparison as JUnit XML: one test case per metric, a failure for each regressed one."""
        verdict = job_verdict(d.repo, job_id, baseline, rerun, hardware_of=hardware_from_hosts(d.hosts))
        return Response(verdict.junit(), media_type="application/xml")
