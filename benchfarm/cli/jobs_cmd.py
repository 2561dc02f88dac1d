"""`benchfarm jobs`: list, show, cancel, and read the logs and events of jobs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from benchfarm.cli.console import out, print_json
from benchfarm.cli.farm import farm
from benchfarm.client import ApiClient

app = typer.Typer(help="Inspect and control jobs on the farm.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _client() -> ApiClient:
    return farm().api_client


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="submitted, queued, running, succeeded, failed, cancelled")] = None,
    name: Annotated[str | None, typer.Option(help="Spec name.")] = None,
    label: Annotated[str | None, typer.Option(help="KEY=VALUE")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Jobs, most recent first."""
    rows = _client().jobs(status=status, name=name, label=label, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "status", "host", "reps", "submitted", "reason")
    for r in rows:
        table.add_row(r["id"], r["name"], r["status"], r.get("host") or "-",
                      f"{r['repetitions_done']}/{r.get('repetitions')}", r["submitted_at"][:19], r.get("reason") or "")
    out.print(table)


@app.command()
def show(job_id: str, as_json: JsonOpt = False) -> None:
    """One job: status, image digest, repetitions and their metrics."""
    from benchfarm.cli.submit_cmd import _metrics_table

    job = _client().job(job_id)
    if as_json:
        print_json(job)
        return
    out.print(f"[bold]{job['id']}[/bold] {job['spec'].get('name')} — {job['status']}"
              f"{' (' + job['reason'] + ')' if job.get('reason') else ''}", highlight=False)
    out.print(f"image {job['image_ref']} = {job.get('image_digest')}; queue {job.get('queue')}; "
              f"host {job.get('host_id') or '-'}; attempts {job.get('attempts')}", highlight=False)
    if job["status"] in ("submitted", "queued"):
        wait = _client().get(f"/jobs/{job_id}/wait").json()
        if wait.get("reason"):
            out.print(f"waiting: {wait['reason']}", highlight=False)
    if job["repetitions"]:
        out.print(_metrics_table(job))


@app.command()
def cancel(job_id: str, as_json: JsonOpt = False) -> None:
    """Cancel a job (a running container is stopped)."""
    res = _client().cancel(job_id)
    print_json(res) if as_json else out.print(f"{job_id}: {res['status']}"
                                              f"{' (stop requested)' if res.get('cancel_requested') else ''}")


@app.command()
def logs(job_id: str) -> None:
    """The container output of each repetition."""
    out.print(_client().logs(job_id), highlight=False, markup=False)


@app.command()
def events(job_id: str,
           follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming until the job ends.")] = False,
           as_json: JsonOpt = False) -> None:
    """The job's events (submitted, queued, started, repetition_finished, finished...)."""
    client = _client()
    evs = client.follow(job_id) if follow else client.events(job_id)
    rows = []
    for ev in evs:
        if as_json:
            rows.append(ev)
        else:
            out.print(f"{ev['at'][:23]} #{ev['seq']:<3} {ev['type']:<20} {ev.get('data') or ''}", highlight=False)
    if as_json:
        print_json(rows)
