"""`benchfarm submit`: send a job spec to the farm, optionally wait and show its results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from benchfarm.cli.console import err, out, print_json
from benchfarm.cli.farm import farm
from benchfarm.cli.job_progress import wait_with_progress


def _metrics_table(job: dict[str, Any]) -> Table:
    table = Table(title=f"{job['id']} — {job['spec'].get('name')} on {job.get('host_id') or '?'}: {job['status']}")
    declared = list((job["spec"].get("results") or {}).get("metrics") or {})
    names = declared or sorted({m for r in job["repetitions"] for m in r.get("metrics", {})})
    table.add_column("rep")
    table.add_column("exit")
    table.add_column("seconds")
    for n in names:
        table.add_column(n, justify="right")
    for r in job["repetitions"]:
        if r.get("warmup"):
            continue
        dur = ""
        if r.get("started_at") and r.get("finished_at"):
            from datetime import datetime

            seconds = (datetime.fromisoformat(r["finished_at"])
                       - datetime.fromisoformat(r["started_at"])).total_seconds()
            dur = f"{max(0.0, seconds):.2f}"
        table.add_row(str(r["index"]), str(r.get("exit_code")), dur,
                      *[f"{r['metrics'][n]:.4g}" if n in r.get("metrics", {}) else "-" for n in names])
    return table


def submit(
    spec_file: Annotated[Path, typer.Argument(help="Job spec, YAML or JSON (schema: `benchfarm spec schema`).")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the job to finish, showing progress.")] = False,
    as_json: Annotated[bool, typer.Option("--json",
                                          help="Print the job (with --wait: the final record) as JSON.")] = False,
    queue_anyway: Annotated[bool, typer.Option("--queue-anyway",
                                               help="Queue even if no registered host can run it now.")] = False,
    label: Annotated[list[str] | None, typer.Option("--label", "-l", help="Extra label KEY=VALUE (repeatable), "
                                                     "e.g. git_ref=abc123, ci_build=https://jenkins/job/42.")] = None,
    baseline: Annotated[str | None, typer.Option(
        "--baseline", "-b", help="Wait, then compare the finished job with this baseline (a job id, "
        "label:KEY=VALUE, BRANCH@GITREF or 'latest') and exit 0/1/2 as documented below.")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="With --baseline: write the verdict as JUnit XML "
                                                "(one test case per metric) to this file.")] = None,
    confirm: Annotated[bool | None, typer.Option(
        "--confirm/--no-confirm", help="With --baseline: re-run the job once to confirm a suspected regression "
        "before reporting it (default: on when the environment has CI=true).")] = None,
    across: Annotated[list[str] | None, typer.Option(
        "--across", help="Campaign: one job per target, e.g. --across pool:a,pool:b (pool:NAME or host:ID).")] = None,
    each_host: Annotated[bool, typer.Option(
        "--each-host", help="Campaign: one job per registered host (of --pool when given).")] = False,
    pool: Annotated[str | None, typer.Option("--pool", help="With --each-host: only this pool's hosts.")] = None,
    matrix: Annotated[list[str] | None, typer.Option(
        "--matrix", help="Campaign: KEY=v1,v2 sets the spec's env KEY to each value, one job per value "
        "(repeatable: axes multiply), e.g. --matrix SYSBENCH_THREADS=1,2.")] = None,
    reference: Annotated[str | None, typer.Option(
        "--reference", help="Campaign with --wait: the group others are divided by (pool or hardware class).")] = None,
    price: Annotated[list[str] | None, typer.Option(
        "--price", help="Campaign with --wait: POOL=USD per host-hour for perf/$ (repeatable), e.g. a=0.42/h.")] = None,
    count: Annotated[int, typer.Option(
        "--count", "-n", min=1, max=10_000, help="Burst: submit the spec (each spec of a burst file) this many "
        "times, in one request, all or none.")] = 1,
) -> int | None:
    """Submit a benchmark job to the farm.

    Exit codes without --baseline: 0 submitted (with --wait: succeeded), 2 invalid
    spec or no host can run it, 4 the farm is unreachable, 5 the benchmark failed,
    timed out or was cancelled.

    Exit codes with --baseline (the CI contract; --baseline implies --wait):
    0 no metric regressed, 1 a metric regressed (confirmed by a re-run when
    --confirm is on), 2 no verdict: the job (or its confirmation re-run) failed,
    timed out or was cancelled, the spec is invalid, no host can run it, the farm
    is unreachable, or the baseline cannot be found.

    Campaigns (--across, --each-host, --matrix): one job per (target, matrix point), each
    labelled with the campaign; with --wait, a side-by-side comparison by pool and hardware
    class, exit 5 when any job did not succeed (the tables first, naming each failure).

    Bursts (--count N, or a SPEC_FILE that is a YAML/JSON list of specs): every job in one
    request (`POST /jobs:bulk`), stored in one transaction and queued in one broker round
    trip, all or none; prints each job id (--json: the list). Not with --wait or --baseline:
    follow them with `benchfarm jobs list`.
    """
    from benchfarm.spec.loader import load_specs_file

    specs = load_specs_file(spec_file)
    if count > 1 or len(specs) > 1:
        _submit_burst(specs * count, as_json=as_json, queue_anyway=queue_anyway, label=label,
                      refused={"--wait": wait, "--baseline": baseline is not None, "--junit": junit is not None,
                               "--across/--each-host/--matrix": bool(across or each_host or matrix)})
        return None
    if across or each_host or matrix:
        from benchfarm.cli.campaign_cmd import submit_campaign

        if baseline is not None or junit is not None:
            from benchfarm.errors import UserInputError

            raise UserInputError("--baseline/--junit apply to one job, not a campaign",
                                 hint="compare a campaign with `benchfarm campaign compare ID`; its JUnit with "
                                      "`benchfarm campaign junit ID`")
        submit_campaign(spec_file, across=across or [], each_host=each_host, pool=pool, matrix=matrix or [],
                        wait=wait, as_json=as_json, queue_anyway=queue_anyway, label=label, reference=reference,
                        price=price)
        return None
    if pool is not None or reference is not None or price:
        from benchfarm.errors import UserInputError

        raise UserInputError("--pool, --reference and --price apply to campaigns",
                             hint="add --across, --each-host or --matrix")
    if baseline is not None:
        return _submit_with_verdict(spec_file, as_json=as_json, queue_anyway=queue_anyway, label=label,
                                    baseline=baseline, junit=junit, confirm=confirm)
    if junit is not None:
        from benchfarm.errors import UserInputError

        raise UserInputError("--junit needs --baseline", hint="add --baseline REF (e.g. --baseline latest)")
    _submit(spec_file, wait=wait, as_json=as_json, queue_anyway=queue_anyway, label=label)
    return None


def _with_labels(data: dict[str, Any], label: list[str] | None) -> dict[str, Any]:
    from benchfarm.errors import UserInputError

    for item in label or []:
        if "=" not in item:
            raise UserInputError(f"--label {item!r} must be KEY=VALUE")
        k, v = item.split("=", 1)
        data.setdefault("labels", {})[k] = v
    return data


def _submit_burst(specs: list[Any], *, as_json: bool, queue_anyway: bool, label: list[str] | None,
                  refused: dict[str, bool]) -> None:
    """Submit ``specs`` in one bulk request and print what was accepted."""
    from benchfarm.errors import UserInputError

    if given := [name for name, on in refused.items() if on]:
        raise UserInputError(f"{', '.join(given)} apply to one job, not a burst",
                             hint="submit the burst, then follow it with `benchfarm jobs list`; or drop --count")
    accepted = farm().api_client.submit_many([_with_labels(s.model_dump(mode="json"), label) for s in specs],
                                             queue_anyway=queue_anyway)
    if as_json:
        print_json(accepted)
        return
    for job in accepted:
        out.print(f"{job['id']} {job['queue']}", highlight=False)
    err.print(f"submitted {len(accepted)} jobs", highlight=False)


def _submit(spec_file: Path, *, wait: bool, as_json: bool, queue_anyway: bool, label: list[str] | None,
            print_job: bool = True) -> dict[str, Any]:
    from benchfarm.errors import BenchmarkFailedError
    from benchfarm.spec.loader import load_spec_file

    data = _with_labels(load_spec_file(spec_file).model_dump(mode="json"), label)
    client = farm().api_client
    accepted = client.submit(data, queue_anyway=queue_anyway)
    job_id = accepted["id"]
    if not wait:
        if as_json:
            print_json(accepted)
        else:
            out.print(f"submitted {job_id} (queue {accepted['queue']}, image {accepted['image_digest'][:19]})")
        return accepted
    err.print(f"submitted {job_id} to queue {accepted['queue']}", highlight=False)
    job = wait_with_progress(client, job_id, quiet=as_json)
    if print_job and as_json:
        print_json(job)
    elif print_job:
        out.print(_metrics_table(job))
        if job.get("warnings"):
            for w in job["warnings"]:
                err.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    if job["status"] != "succeeded":
        raise BenchmarkFailedError(f"job {job_id} {job['status']}: {job.get('reason')}",
                                   hint=f"see `benchfarm jobs logs {job_id}`")
    return job


def _submit_with_verdict(spec_file: Path, *, as_json: bool, queue_anyway: bool, label: list[str] | None,
                         baseline: str, junit: Path | None, confirm: bool | None) -> int:
    """Submit, wait, compare with ``baseline``: 0 no regression, 1 regression, 2 no verdict."""
    from benchfarm.analysis.baseline_ref import parse_baseline_ref
    from benchfarm.cli.compare_cmd import confirm_default, verdict, verdict_table
    from benchfarm.errors import BenchfarmError

    try:
        parse_baseline_ref(baseline)  # refuse a malformed reference before running anything
        job = _submit(spec_file, wait=True, as_json=as_json, queue_anyway=queue_anyway, label=label,
                      print_job=not as_json)
        client = farm().api_client
        data = verdict(client, job["id"], baseline, confirm=confirm_default(confirm), junit=junit, quiet=as_json)
    except BenchfarmError as exc:  # every way of getting no verdict is exit 2 in the CI contract
        err.print(f"[bold red]error:[/bold red] {exc.full_message()}", highlight=False)
        if exc.hint:
            err.print(f"[yellow]hint:[/yellow] {exc.hint}", highlight=False)
        err.print("no verdict (exit 2)", highlight=False)
        if junit is not None:
            _write_error_junit(junit, spec_file.stem, exc.full_message())
        return 2
    if as_json:
        print_json(data)
    else:
        out.print(verdict_table(data))
        if junit is not None:
            err.print(f"JUnit written to {junit}", highlight=False)
    return int(data["exit_code"])


def _write_error_junit(path: Path, suite: str, message: str) -> None:
    """A JUnit file with one errored test case, so a CI server shows why no verdict came."""
    import xml.etree.ElementTree as ET

    counts = {"tests": "1", "failures": "0", "errors": "1", "skipped": "0", "time": "0"}
    root = ET.Element("testsuites", {"name": f"benchfarm {suite}", **counts})
    case = ET.SubElement(ET.SubElement(root, "testsuite", {"name": suite, **counts}), "testcase",
                         {"classname": f"benchfarm.{suite}", "name": "verdict", "time": "0"})
    ET.SubElement(case, "error", {"message": message.splitlines()[0][:500], "type": "no-verdict"}).text = message
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
