"""`benchfarm campaign`: list, show, compare, cancel campaigns; their JUnit and HTML report.

A campaign is created by `benchfarm submit SPEC --across pool:A,pool:B | --each-host [--pool P]
[--matrix KEY=v1,v2 ...]` (:func:`submit_campaign`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from benchfarm.cli.campaign_tables import failures_lines, groups_table, jobs_table, metric_table, scaling_table
from benchfarm.cli.console import err, out, print_json
from benchfarm.cli.farm import farm
from benchfarm.client import ApiClient

app = typer.Typer(help="Campaigns: one spec on many pools, hosts and parameter points, compared side by side.",
                  no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ReferenceOpt = Annotated[str | None, typer.Option(
    "--reference", "-r", help="The group others are divided by: a pool, a hardware class or 'pool / class' "
    "(default: the first target's).")]
PriceOpt = Annotated[list[str] | None, typer.Option(
    "--price", help="POOL=USD per host-hour, e.g. a=0.42/h (repeatable); wins over the pool's definition.")]
#: How long a wait rides out an API that does not answer.
API_OUTAGE_TOLERANCE_S = 300.0


def _client() -> ApiClient:
    return farm().api_client


@app.command("list")
def list_(limit: Annotated[int, typer.Option(help="At most this many.")] = 50, as_json: JsonOpt = False) -> None:
    """Campaigns, most recent first, with their jobs counted by status."""
    from rich.table import Table

    rows = _client().campaigns(limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "status", "targets", "matrix", "jobs", "submitted")
    for r in rows:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(r["counts"].items()))
        matrix = "; ".join(f"{k}={','.join(v)}" for k, v in r["matrix"].items()) or "-"
        table.add_row(r["id"], r["name"], r["status"], ", ".join(r["targets"]) or "any", matrix,
                      f"{r['jobs']} ({counts})", r["submitted_at"][:19])
    out.print(table)


@app.command()
def show(campaign_id: str, as_json: JsonOpt = False) -> None:
    """One campaign: each job's target, point, status, host, hardware class and reason."""
    view = _client().campaign(campaign_id)
    print_json(view) if as_json else out.print(jobs_table(view))


def print_comparison(data: dict[str, Any]) -> None:
    """The comparison as tables: groups, one side-by-side table per metric, scaling, failures."""
    out.print(groups_table(data))
    for metric in data["metrics"]:
        if metric["cells"]:
            out.print(metric_table(data, metric))
    scaling = scaling_table(data)
    if scaling is not None:
        out.print(scaling)
    for line in failures_lines(data):
        err.print(f"[red]{line}[/red]", highlight=False, soft_wrap=True)


@app.command()
def compare(campaign_id: str, reference: ReferenceOpt = None, price: PriceOpt = None, as_json: JsonOpt = False) -> None:
    """Side by side per metric: each group's median with a 95% CI, ratio to the reference group, perf per
    dollar, and the scaling curve of a numeric sweep. Groups are (pool, hardware class), never host names."""
    data = _client().compare_campaign(campaign_id, reference, price)
    print_json(data) if as_json else print_comparison(data)


@app.command()
def cancel(campaign_id: str, as_json: JsonOpt = False) -> None:
    """Cancel every unfinished job of the campaign."""
    view = _client().cancel_campaign(campaign_id)
    print_json(view) if as_json else out.print(f"{campaign_id}: {view['status']} "
                                               f"({', '.join(f'{n} {s}' for s, n in sorted(view['counts'].items()))})")


@app.command()
def junit(campaign_id: str,
          output: Annotated[Path, typer.Option("--output", "-o", help="JUnit XML file to write.")] = Path(
              "campaign-junit.xml")) -> None:
    """Write the campaign as JUnit XML: a suite per target, a case per job, failed jobs as failures."""
    output.write_text(_client().campaign_junit(campaign_id), encoding="utf-8")
    out.print(f"wrote {output}")


@app.command()
def report(campaign_id: str, reference: ReferenceOpt = None, price: PriceOpt = None,
           output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
               "campaign.html")) -> None:
    """Write a self-contained HTML report of the comparison (medians with CIs, ratios, perf/$, scaling plots)."""
    from benchfarm.report.campaign import campaign_page

    client = _client()
    text = campaign_page(client.campaign(campaign_id), client.compare_campaign(campaign_id, reference, price))
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    out.print(f"wrote {output} ({output.stat().st_size // 1024} KiB)")


def wait_campaign(client: ApiClient, campaign_id: str, quiet: bool = False, poll_s: float = 2.0) -> dict[str, Any]:
    """Poll the campaign with a live status line until every job is final; returns the final view.

    Raises:
        ServiceUnavailableError: the API stayed unreachable longer than ``API_OUTAGE_TOLERANCE_S``.
    """
    from benchfarm.errors import ServiceUnavailableError

    down_since: float | None = None
    started = time.monotonic()
    with err.status(f"{campaign_id}: submitted", spinner="dots") as status:
        while True:
            try:
                view = client.campaign(campaign_id)
                down_since = None
            except ServiceUnavailableError:
                down_since = down_since or time.monotonic()
                if time.monotonic() - down_since > API_OUTAGE_TOLERANCE_S:
                    raise
                time.sleep(poll_s)
                continue
            counts = view["counts"]
            done = sum(n for s, n in counts.items() if s in ("succeeded", "failed", "cancelled", "refused"))
            states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            line = f"{campaign_id}: {done}/{len(view['jobs'])} jobs done ({states}) {time.monotonic() - started:.0f} s"
            status.update(line)
            if view["status"] != "running":
                if not quiet:
                    err.print(line, highlight=False)
                return view
            time.sleep(poll_s)


def submit_campaign(spec_file: Path, *, across: list[str], each_host: bool, pool: str | None, matrix: list[str],
                    wait: bool, as_json: bool, queue_anyway: bool, label: list[str] | None,
                    reference: str | None, price: list[str] | None) -> None:
    """Create a campaign from ``spec_file``; with ``wait``, follow it and print the side-by-side comparison.

    Raises:
        BenchmarkFailedError: with ``wait``, some job failed, was cancelled or refused (after the tables).
    """
    from benchfarm.campaigns.plan import parse_matrix
    from benchfarm.campaigns.pricing import parse_prices
    from benchfarm.errors import BenchmarkFailedError, UserInputError
    from benchfarm.spec.loader import load_spec_file

    parse_prices(price or [])  # refuse a malformed price before anything runs
    spec = load_spec_file(spec_file).model_dump(mode="json")
    for item in label or []:
        if "=" not in item:
            raise UserInputError(f"--label {item!r} must be KEY=VALUE")
        k, v = item.split("=", 1)
        spec.setdefault("labels", {})[k] = v
    request = {"spec": spec, "across": across, "each_host": each_host, "pool": pool, "matrix": parse_matrix(matrix)}
    client = _client()
    view = client.submit_campaign(request, queue_anyway=queue_anyway)
    cid = view["id"]
    if not wait:
        print_json(view) if as_json else out.print(jobs_table(view))
        return
    err.print(f"campaign {cid}: {len(view['jobs'])} jobs on {', '.join(view['targets']) or 'any host'}",
              highlight=False)
    view = wait_campaign(client, cid, quiet=as_json)
    data = client.compare_campaign(cid, reference, price) if view["counts"].get("succeeded") else None
    if as_json:
        print_json({"campaign": view, "comparison": data})
    elif data is not None:
        print_comparison(data)
    else:
        out.print(jobs_table(view))
    bad = [j for j in view["jobs"] if j["status"] != "succeeded"]
    if bad:
        names = "; ".join(f"{j.get('job_id') or j['target']} {j['status']}" + (f" ({j['reason']})" if j.get(
            "reason") else "") for j in bad[:5])
        raise BenchmarkFailedError(f"campaign {cid}: {len(bad)} of {len(view['jobs'])} jobs did not succeed: {names}",
                                   hint=f"see `benchfarm campaign show {cid}` and `benchfarm jobs logs JOB`")
