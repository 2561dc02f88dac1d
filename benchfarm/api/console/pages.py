"""The console's routes: sign-in, farm, jobs, job (with its live stream), compare, history, campaigns.

Each page reads through the same code as the API's JSON routes (``farm_overview``, ``readable_job``,
``job_verdict``, ``history``), so a page shows what the API answers. Errors on a page are answered by
the API's own handlers (status, audit, message) and rendered as an HTML page (:func:`install`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from benchfarm.access.tokens import Principal
from benchfarm.api.console import views
from benchfarm.api.console.auth import (
    COOKIE_PATH,
    ConsoleCaller,
    SignInNeeded,
    check_token,
    clear_sign_in,
    safe_next,
    set_sign_in,
    sign_in_url,
)
from benchfarm.api.dependencies import JOB_ID_PATTERN, JobId, get_deps
from benchfarm.api.deps import ApiDeps
from benchfarm.api.overview import farm_overview, history
from benchfarm.api.routers.jobs import may_read, readable_job
from benchfarm.errors import AuthError, BenchfarmError
from benchfarm.jobs.model import JobRecord, JobStatus

_HERE = FilePath(__file__).parent
templates = Jinja2Templates(directory=_HERE / "templates")
templates.env.filters.update(fmt=views.fmt, fmt_bytes=views.fmt_bytes, fmt_seconds=views.fmt_seconds,
                             fmt_time=views.fmt_time)

router = APIRouter(prefix=COOKIE_PATH, include_in_schema=False)

PER_PAGE = (25, 50, 100)


def _deps(request: Request) -> ApiDeps:
    return get_deps(request)


def page(request: Request, template: str, caller: Principal | None, status_code: int = 200,
         **context: Any) -> HTMLResponse:
    """Render ``template`` with the signed-in ``caller`` and ``context``."""
    return templates.TemplateResponse(request, template, {"caller": caller, **context}, status_code=status_code)


# ------------------------------------------------------------------ signing in and out
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return page(request, "login.html", None, next=safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    target = safe_next((form.get("next") or [""])[0])
    await run_in_threadpool(check_token, request, token)  # AuthError -> the sign-in page again (install)
    answer = RedirectResponse(target, status_code=303)
    set_sign_in(answer, token, secure=request.url.scheme == "https")
    return answer


@router.post("/logout")
def logout() -> Response:
    answer = RedirectResponse(f"{COOKIE_PATH}/login", status_code=303)
    clear_sign_in(answer)
    return answer


# ------------------------------------------------------------------ farm
@router.get("", response_class=HTMLResponse)
def farm_page(request: Request, caller: ConsoleCaller) -> HTMLResponse:
    d = _deps(request)
    farm = farm_overview(d)
    elastic, no_elastic = None, None
    if d.elastic_pools is not None:  # the autoscaler's next step per elastic pool (issue 13), as GET /pools says
        from benchfarm.api.routers.pools import list_pools

        try:
            elastic = list_pools(d)
        except BenchfarmError as exc:
            no_elastic = exc.message
    return page(request, "farm.html", caller, farm=farm, elastic=elastic, no_elastic=no_elastic, nav="farm")


# ------------------------------------------------------------------ jobs
@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, caller: ConsoleCaller,
              status: Annotated[JobStatus | None, Query()] = None,
              page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
              per_page: Annotated[int, Query(ge=1, le=max(PER_PAGE))] = 50) -> HTMLResponse:
    d = _deps(request)
    keep = None
    if status is not None or not caller.sees_all_teams():
        def keep(job: JobRecord) -> bool:
            return (status is None or job.status == status) and may_read(caller, job)
    offset = (page_no - 1) * per_page
    jobs, more = d.repo.page(offset, per_page, keep=keep)
    nav = views.paging(f"{COOKIE_PATH}/jobs", page_no, per_page, more,
                       {"status": status.value if status else None})
    return page(request, "jobs.html", caller, jobs=jobs, paging=nav, status=status.value if status else "",
                statuses=[s.value for s in JobStatus], per_page_choices=PER_PAGE, nav="jobs",
                progress=views.progress)


def _verdict_latest(d: ApiDeps, job: JobRecord) -> tuple[dict[str, Any] | None, str | None]:
    """The job's verdict against the latest baseline, or why there is none."""
    from benchfarm.analysis.baselines import hardware_from_hosts
    from benchfarm.analysis.verdict import job_verdict

    if job.status != JobStatus.SUCCEEDED:
        return None, f"no verdict: the job is {job.status.value}"
    try:
        return job_verdict(d.repo, job.id, "latest", hardware_of=hardware_from_hosts(d.hosts)).to_dict(), None
    except BenchfarmError as exc:
        return None, exc.message


def _timelines(d: ApiDeps, job: JobRecord) -> tuple[list[views.Chart], int, str | None]:
    """The job's collector timelines, its sample count, or why they could not be read."""
    if d.store is None:
        return [], 0, "this API was started without the store reader"
    try:
        docs = d.store.samples_for(job.id, source=["@timestamp", "collector", "m"])
    except BenchfarmError as exc:
        return [], 0, f"samples unavailable: {exc.message}"
    return views.timeline_charts(docs, job.started_at or job.submitted_at), len(docs), None


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, caller: ConsoleCaller, job_id: JobId) -> HTMLResponse:
    d = _deps(request)
    job = readable_job(d, caller, job_id)
    verdict, no_verdict = _verdict_latest(d, job)
    charts, sample_count, no_samples = _timelines(d, job)
    return page(request, "job.html", caller, job=job, progress=views.progress(job), metrics=views.metric_rows(job),
                verdict=verdict, no_verdict=no_verdict, charts=[c.as_dict() for c in charts],
                sample_count=sample_count, no_samples=no_samples, nav="jobs")


@router.get("/jobs/{job_id}/stream")
def job_stream(request: Request, caller: ConsoleCaller, job_id: JobId) -> Response:
    """Server-sent ``progress`` events (status, repetitions done) until the job is final."""
    from sse_starlette.sse import EventSourceResponse

    d = _deps(request)
    readable_job(d, caller, job_id)
    repo = d.repo

    def stream() -> Iterator[dict[str, str]]:
        try:
            for ev in repo.follow(job_id):
                state = views.progress(repo.get(job_id)).as_dict()
                yield {"event": "progress", "id": str(ev.seq), "data": json.dumps({**state, "event": ev.type.value})}
        except BenchfarmError as exc:
            yield {"event": "error", "data": json.dumps({"error": exc.message, "hint": exc.hint})}

    return EventSourceResponse(iterate_in_threadpool(stream()))


@router.get("/jobs/{job_id}/compare", response_class=HTMLResponse)
def compare_page(request: Request, caller: ConsoleCaller, job_id: JobId,
                 baseline: Annotated[str, Query(min_length=1, max_length=300)] = "latest") -> HTMLResponse:
    from benchfarm.analysis.baselines import hardware_from_hosts
    from benchfarm.analysis.job_compare import measured_values
    from benchfarm.analysis.verdict import job_verdict

    d = _deps(request)
    readable_job(d, caller, job_id)
    verdict = job_verdict(d.repo, job_id, baseline, hardware_of=hardware_from_hosts(d.hosts))
    readable_job(d, caller, verdict.baseline.id)
    base, cand = measured_values(verdict.baseline), measured_values(verdict.candidate)
    charts = [views.distribution_chart(m.metric, m.unit or "", base.get(m.metric, []), cand.get(m.metric, []))
              for m in verdict.comparison.metrics]
    return page(request, "compare.html", caller, v=verdict.to_dict(), baseline=baseline, base_values=base,
                cand_values=cand, charts=[c.as_dict() for c in charts], nav="jobs")


# ------------------------------------------------------------------ history
@router.get("/history", response_class=HTMLResponse)
def history_page(request: Request, caller: ConsoleCaller,
                 name: Annotated[str | None, Query(max_length=200)] = None,
                 metric: Annotated[str | None, Query(max_length=200)] = None,
                 host: Annotated[str | None, Query(max_length=200)] = None,
                 hardware_class: Annotated[str | None, Query(alias="class", max_length=200)] = None,
                 branch: Annotated[str | None, Query(max_length=200)] = None) -> HTMLResponse:
    d = _deps(request)
    recent, _ = d.repo.page(0, 200)
    names = sorted({j.name for j in recent if j.name and may_read(caller, j)})
    metrics = sorted({m for j in recent for m in ((j.spec.get("results") or {}).get("metrics") or {})})
    form = {"name": name or "", "metric": metric or "", "host": host or "", "class": hardware_class or "",
            "branch": branch or ""}
    body, chart = None, None
    if name and metric:
        body = history(d, name, metric, host=host or None, hardware_class=hardware_class or None,
                       branch=branch or None)
        chart = views.history_chart(body.series, [p.value for p in body.points],
                                    [c.index for c in body.changes]).as_dict()
    return page(request, "history.html", caller, form=form, names=names, metrics=metrics, h=body, chart=chart,
                changes_at={c.index for c in body.changes} if body else set(), nav="history")


# ------------------------------------------------------------------ campaigns (issue 14)
@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, caller: ConsoleCaller) -> HTMLResponse:
    from benchfarm.api.routers.campaigns import list_campaigns

    d = _deps(request)
    listed = list_campaigns(d, caller, limit=100) if d.campaigns is not None else None
    return page(request, "campaigns.html", caller, campaigns=listed, nav="campaigns")


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, caller: ConsoleCaller,
                  campaign_id: Annotated[str, Path(pattern=JOB_ID_PATTERN, max_length=200)],
                  reference: Annotated[str | None, Query(max_length=300)] = None) -> HTMLResponse:
    """A campaign: its jobs, its groups (hardware) side by side per metric with performance per dollar,
    and its scaling curves: what ``GET /campaigns/{id}`` and ``/compare`` answer."""
    from benchfarm.api.routers.campaigns import compare_campaign, get_campaign

    d = _deps(request)
    view = get_campaign(d, caller, campaign_id)
    comparison, no_comparison = None, None
    try:
        comparison = compare_campaign(d, caller, campaign_id, reference=reference or None, price=None).model_dump()
    except BenchfarmError as exc:  # nothing succeeded yet, a bad reference: the jobs table still helps
        no_comparison = exc.message
    curves = [views.scaling_chart(c).as_dict() for c in (comparison or {}).get("scaling", [])]
    return page(request, "campaign.html", caller, c=view, cmp=comparison, no_comparison=no_comparison,
                curves=curves, reference=reference or "", nav="campaigns")


# ------------------------------------------------------------------ wiring
Handler = Callable[[Request, Exception], Awaitable[Response]]


def _html_errors(app: FastAPI, exc_class: type[Exception]) -> None:
    """Answer ``exc_class`` on console paths as an HTML page, after the API's own handler has answered it
    (its status, its audit of 401 and 403, its message and hint); other paths keep the JSON answer."""
    api_handler: Handler = app.exception_handlers[exc_class]  # type: ignore[assignment]

    async def console_or_api(request: Request, exc: Exception) -> Response:
        answer = await api_handler(request, exc)
        if not request.url.path.startswith(COOKIE_PATH):
            return answer
        body = json.loads(bytes(answer.body)) if answer.media_type == "application/json" else {}
        if isinstance(exc, AuthError):
            shown = page(request, "login.html", None, status_code=401, next=COOKIE_PATH,
                         error=f"That token was not accepted: {body.get('error', 'unknown token')}.")
            clear_sign_in(shown)
            return shown
        return page(request, "error.html", None, status_code=answer.status_code,
                    error=body.get("error", "error"), hint=body.get("hint"))

    app.add_exception_handler(exc_class, console_or_api)


async def _sign_in_needed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    answer = RedirectResponse(sign_in_url(exc.next_path), status_code=303)
    if exc.reason:  # a cookie whose token is no longer good: drop it
        clear_sign_in(answer)
    return answer


def install(app: FastAPI) -> None:
    """Add the console to an API app made by ``create_app`` (after its error handlers are installed)."""
    app.include_router(router)
    app.mount(f"{COOKIE_PATH}/static", StaticFiles(directory=_HERE / "static"), name="console-static")
    app.add_exception_handler(SignInNeeded, _sign_in_needed)
    for exc_class in (BenchfarmError, StarletteHTTPException, RequestValidationError):
        _html_errors(app, exc_class)
