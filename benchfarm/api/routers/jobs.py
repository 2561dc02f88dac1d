"""``/jobs``: submit, list, inspect, cancel and follow jobs.

``POST /jobs`` documents its body as the job spec's JSON Schema (``JobSpec``) but
validates it with the spec loader, not with FastAPI: the loader reports every problem
at once, each naming its field and saying what a good value looks like, the same
messages ``benchfarm spec validate`` prints. They come back as a 422 ``ErrorBody``.

Who sees what: a job records its submitter's user and team and whether it is private (the
default) or public. A submit token lists, reads and follows its own team's jobs and public
ones, and cancels or reads the logs of its own team's only; operate and admin tokens reach
every job, and their cancel of another team's job is audited. Another team's private job
answers 403 (it exists, but not for you), and is left out of listings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import SkipValidation
from starlette.concurrency import iterate_in_threadpool

from benchfarm.access.tokens import Principal
from benchfarm.api.dependencies import Authenticated, Caller, Deps, JobId
from benchfarm.api.errors import ERROR_BODY_REF, error_responses
from benchfarm.api.models import BulkAccepted, BulkSubmit, CancelResult, JobAccepted, JobSummary
from benchfarm.errors import BenchfarmError, ConflictError, ForbiddenError
from benchfarm.jobs.model import JobEvent, JobRecord, JobStatus
from benchfarm.spec.loader import load_spec_data
from benchfarm.spec.model import JobSpec

router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[Authenticated],
                   responses=error_responses(401, 403, 503))


def _own(caller: Principal, job: JobRecord) -> bool:
    """Whether ``job`` belongs to the caller's team (a record from before teams belongs to everyone)."""
    return job.team is None or job.team == caller.team


def may_read(caller: Principal, job: JobRecord) -> bool:
    """Whether ``caller`` may list and read ``job``: its team's, a public one, or any for operate and admin."""
    return caller.sees_all_teams() or job.visibility == "public" or _own(caller, job)


def readable_job(d: Deps, caller: Principal, job_id: str, doing: str = "see") -> JobRecord:
    """The job ``job_id`` if ``caller`` may read it.

    Raises:
        NotFoundError (404): no such job.
        ForbiddenError (403): another team's private job, for a submit token.
    """
    job = d.repo.get(job_id)
    if not may_read(caller, job):
        raise ForbiddenError(f"job {job_id} is a private job of team {job.team}: {caller.user} of team "
                             f"{caller.team} may not {doing} it",
                             hint="ask its team to submit it with visibility=public, or use a token of that team")
    return job


async def job_spec_body(body: Annotated[JobSpec, SkipValidation, Body(description="the job spec (`benchfarm spec "
                                                                                  "schema` prints its JSON Schema)")]
                        ) -> JobSpec:
    """FastAPI dependency: the request's JSON body validated as a job spec by the spec loader.

    ``SkipValidation``: FastAPI documents the body as ``JobSpec`` and parses the JSON, but the
    loader validates it (FastAPI answers 422 itself for a missing body or one that is not JSON).

    Raises:
        SpecValidationError (a SpecError, 422): every problem of the spec, each naming its field.
    """
    return load_spec_data(body, source="<request>")


@router.post("", status_code=202, response_model=JobAccepted, responses=error_responses(404, 409, 422, 502))
def submit_job(d: Deps, caller: Caller, spec: Annotated[JobSpec, Depends(job_spec_body)],
               queue_anyway: Annotated[bool, Query(description="queue even if no host can run it now")] = False,
               visibility: Annotated[Literal["private", "public"],
                                     Query(description="private: only the submitter's team (and operators) see it"
                                           )] = "private",
               ) -> JobAccepted:
    """Submit a job spec. Answers 202 with the job id once the job is stored durably and queued.

    The job records the token's user and team. 404: the image is not on the farm. 409: no registered
    host can run the job (unless ``queue_anyway``).
    """
    job = d.jobs.submit(spec, queue_anyway=queue_anyway, submitted_by=caller.user, team=caller.team,
                        visibility=visibility)
    return JobAccepted(id=job.id, status=job.status, queue=job.queue, image_digest=job.image_digest)


# ``/jobs:bulk``, a custom method (as Google's AIP-136 names them), not ``/jobs/bulk``: that path is also
# ``/jobs/{job_id}`` for GET and DELETE, so "bulk" would read as a job id
@router.post(":bulk", status_code=202, response_model=BulkAccepted, responses=error_responses(404, 409, 422, 502))
def submit_jobs(d: Deps, caller: Caller, body: BulkSubmit,
                queue_anyway: Annotated[bool, Query(description="queue even if no host can run a job now")] = False,
                visibility: Annotated[Literal["private", "public"],
                                      Query(description="private: only the submitter's team (and operators) see "
                                                        "them")] = "private",
                ) -> BulkAccepted:
    """Submit many job specs at once (a CI burst). Answers 202 once every job is stored durably and queued.

    The same checks as ``POST /jobs`` for each spec, all before anything is stored: one invalid spec (422,
    naming its index and fields), unknown image (404) or job no host can run (409) and none is submitted.
    The jobs and their events are stored in one transaction and queued in one broker round trip.
    """
    specs = [load_spec_data(spec, source=f"<request> jobs[{i}]") for i, spec in enumerate(body.jobs)]
    jobs = d.jobs.submit_many(specs, queue_anyway=queue_anyway, submitted_by=caller.user, team=caller.team,
                              visibility=visibility)
    return BulkAccepted(jobs=[JobAccepted(id=j.id, status=j.status, queue=j.queue, image_digest=j.image_digest)
                              for j in jobs])


@router.get("", response_model=list[JobSummary], responses=error_responses(422))
def list_jobs(d: Deps, caller: Caller,
              status: Annotated[JobStatus | None, Query(description="only jobs in this status")] = None,
              name: Annotated[str | None, Query(description="only jobs of this spec name")] = None,
              label: Annotated[str | None, Query(pattern=r"^[^=]+=", description="only jobs with label KEY=VALUE")
                               ] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[JobSummary]:
    """Jobs the token may see (its team's and public ones; all for operators), most recent first, filtered
    by status, spec name or a label."""
    lab = None
    if label is not None:
        key, value = label.split("=", 1)
        lab = (key, value)
    scan = limit if caller.sees_all_teams() else 1000  # others' private jobs are left out: look further back
    jobs = [j for j in d.repo.list(status=status.value if status else None, name=name, label=lab, limit=scan)
            if may_read(caller, j)][:limit]
    return [JobSummary.model_validate(j.summary()) for j in jobs]


@router.get("/{job_id}", response_model=JobRecord, responses=error_responses(404, 422))
def get_job(d: Deps, caller: Caller, job_id: JobId) -> JobRecord:
    """The full job record: spec, status, image digest, every repetition with its metrics."""
    return readable_job(d, caller, job_id)


@router.delete("/{job_id}", status_code=202, response_model=CancelResult, responses=error_responses(404, 409, 422))
def cancel_job(d: Deps, caller: Caller, job_id: JobId) -> CancelResult:
    """Cancel a job: a queued job never starts; a running container is stopped.

    A submit token cancels its own team's jobs only (403 otherwise); an operator's or admin's cancel of
    another team's job is audited. Cancelling a cancelled job again answers 202; one that already
    succeeded or failed, 409.
    """
    owned = readable_job(d, caller, job_id, "cancel")
    if not _own(caller, owned):
        if not caller.sees_all_teams():
            raise ForbiddenError(f"job {job_id} belongs to team {owned.team}: {caller.user} of team {caller.team} "
                                 "may not cancel it", hint="only its team or an operator may cancel it")
        d.audit.record("jobs.cancel", "allowed", caller, target=job_id, reason=f"a job of team {owned.team}",
                       method="DELETE", path=f"/jobs/{job_id}")
    job = d.jobs.cancel(job_id)
    if job.status.final and not job.cancel_requested:
        raise ConflictError(f"job {job_id} already {job.status.value}: there is nothing to cancel",
                            hint=f"see its outcome with `benchfarm jobs show {job_id}`")
    return CancelResult(id=job.id, status=job.status, cancel_requested=job.cancel_requested)


_SSE_EVENT = {  # one server-sent event as schemathesis and the OpenAPI 3.2 draft read text/event-stream
    "type": "object", "required": ["data"],
    "properties": {
        "event": {"type": "string", "description": "the job event's type; `error` when the stream fails"},
        "id": {"type": "string", "description": "the event's sequence number in the job's stream"},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "contentSchema": {"anyOf": [{"$ref": "#/components/schemas/JobEvent"}, {"$ref": ERROR_BODY_REF}]}},
    },
}
_EVENT_STREAM: dict[int | str, dict[str, Any]] = {200: {
    "description": "The events: a JSON list (`follow=false`) or server-sent events until the job is final.",
    "content": {"text/event-stream": {"schema": _SSE_EVENT}},
}}


@router.get("/{job_id}/events", response_model=list[JobEvent], responses={**_EVENT_STREAM, **error_responses(404, 422)})
def job_events(d: Deps, caller: Caller, job_id: JobId,
               follow: Annotated[bool, Query(description="stream until the job is final")] = True) -> Any:
    """The job's events as server-sent events (``follow=false``: the events so far, as JSON)."""
    readable_job(d, caller, job_id)
    if not follow:
        return d.repo.events(job_id)
    from sse_starlette.sse import EventSourceResponse

    repo = d.repo

    def stream() -> Iterator[dict[str, str]]:
        try:
            for ev in repo.follow(job_id):
                yield {"event": ev.type.value, "id": str(ev.seq), "data": ev.model_dump_json()}
        except BenchfarmError as exc:  # the stream has started: report in-band, then end it
            yield {"event": "error", "data": json.dumps({"error": exc.message, "hint": exc.hint})}

    return EventSourceResponse(iterate_in_threadpool(stream()))


@router.get("/{job_id}/logs", response_class=PlainTextResponse, responses=error_responses(404, 422))
def job_logs(d: Deps, caller: Caller, job_id: JobId) -> Response:
    """Each repetition's container output (bounded), with a header per repetition."""
    job = readable_job(d, caller, job_id, "read the logs of")
    parts = []
    for r in job.repetitions:
        head = f"=== repetition {r.index}{' (warm-up)' if r.warmup else ''} exit={r.exit_code}"
        parts.append(head + (" [truncated]" if r.logs_truncated else "") + "\n" + r.logs)
    return PlainTextResponse("\n".join(parts))
