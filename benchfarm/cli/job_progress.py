"""Waiting for a job with a live status line (shared by `submit --wait` and `compare`'s confirmation re-run)."""

from __future__ import annotations

import time
from typing import Any

from benchfarm.cli.console import err
from benchfarm.client import ApiClient

FINAL = {"succeeded", "failed", "cancelled"}

#: How long waiting for a job rides out an API or Redis that does not answer.
API_OUTAGE_TOLERANCE_S = 300.0


def wait_with_progress(client: ApiClient, job_id: str, quiet: bool = False) -> dict[str, Any]:
    """Follow the job's events with a live status line until it is final; returns the final record.

    A lost event stream (the API or Redis restarted) does not end the wait: the job
    goes on, so the record is polled until it is final, riding out an API that does
    not answer for up to ``API_OUTAGE_TOLERANCE_S`` seconds at a time.

    Raises:
        ServiceUnavailableError: the API stayed unreachable longer than that.
    """
    from benchfarm.errors import ServiceUnavailableError

    try:
        _follow_with_progress(client, job_id, quiet)
    except ServiceUnavailableError as exc:
        err.print(f"[yellow]warning:[/yellow] {exc.message}; polling the job instead", highlight=False)
    down_since: float | None = None
    while True:
        try:
            job = client.job(job_id)
            down_since = None
        except ServiceUnavailableError:
            down_since = down_since or time.monotonic()
            if time.monotonic() - down_since > API_OUTAGE_TOLERANCE_S:
                raise
            time.sleep(2)
            continue
        if job["status"] in FINAL:
            return job
        time.sleep(1)


def _follow_with_progress(client: ApiClient, job_id: str, quiet: bool) -> None:
    start = time.monotonic()
    state = {"done": 0, "of": "?", "host": "-", "status": "queued"}
    with err.status(f"{job_id}: queued", spinner="dots") as status:
        for ev in client.follow(job_id):
            t, data = ev.get("type"), ev.get("data", {})
            if t == "started":
                state.update(status="running", host=data.get("host", "-"))
            elif t == "repetition_finished":
                state.update(done=data.get("done", state["done"]), of=data.get("of", state["of"]))
                if not quiet:
                    kind = "warm-up" if data.get("warmup") else "repetition"
                    err.print(f"  {kind} {data.get('index')} exit={data.get('exit_code')} {data.get('metrics') or ''}",
                              highlight=False)
            elif t in ("finished", "failed", "cancelled"):
                state["status"] = t
            elif t == "requeued":
                err.print(f"  requeued: {data.get('reason')}", highlight=False)
            status.update(f"{job_id}: {state['status']} on {state['host']} — "
                          f"{state['done']}/{state['of']} repetitions, {time.monotonic() - start:.0f}s")
