"""`benchfarm schedule add|list|remove`: recurring jobs, fired by the workers' schedulers (benchfarm.schedules).

Through the API (``/schedules``), so a schedule records the token's user and team, and its jobs are
submitted as them: its spec (validated now, its image resolved at every fire), labelled with the
schedule id and fire time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from benchfarm.cli.console import out, print_json
from benchfarm.cli.farm import farm

app = typer.Typer(help="Recurring jobs on a cron schedule (UTC), fired once per fire time farm-wide.",
                  no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command()
def add(
    spec_file: Annotated[Path, typer.Argument(help="Job spec (YAML or JSON).", exists=True, dir_okay=False)],
    cron: Annotated[str, typer.Option("--cron", help='Cron expression in UTC, e.g. "0 2 * * *"; a 6th field '
                                      "is seconds.")],
    schedule_id: Annotated[str | None, typer.Option("--id", help="Schedule id (default: generated).")] = None,
    visibility: Annotated[str, typer.Option(help="private or public: who sees the scheduled jobs.")] = "private",
    across: Annotated[list[str] | None, typer.Option(
        "--across", help="Campaign at every fire: one job per target (pool:NAME or host:ID, comma-separated).")] = None,
    each_host: Annotated[bool, typer.Option("--each-host", help="Campaign at every fire: one job per registered "
                                            "host (of --pool if given).")] = False,
    pool: Annotated[str | None, typer.Option(help="With --each-host: only this pool's hosts.")] = None,
    matrix: Annotated[list[str] | None, typer.Option(
        "--matrix", help="Campaign at every fire: KEY=v1,v2 sets the spec's env KEY to each value (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a schedule: SPEC_FILE is submitted at every fire time of --cron (with --across, --each-host or
    --matrix, a campaign is created at every fire, as `benchfarm submit` makes one).

    Exit codes: 0 added; 2 bad spec, cron expression, targets, matrix or id, or the id exists; 4 the API cannot
    be reached.
    """
    from benchfarm.campaigns.plan import parse_matrix
    from benchfarm.errors import UserInputError
    from benchfarm.schedules.model import ID_PATTERN
    from benchfarm.spec.loader import load_spec_file

    spec = load_spec_file(spec_file)
    if schedule_id is not None and not ID_PATTERN.match(schedule_id):
        raise UserInputError(f"schedule id {schedule_id!r} is not lower-case letters, digits, '.', '_' or '-'")
    if visibility not in ("private", "public"):
        raise UserInputError(f"--visibility {visibility!r}: give private or public")
    request = {"cron": cron, "spec": spec.model_dump(mode="json", exclude_unset=True), "visibility": visibility,
               "across": across or [], "each_host": each_host, "pool": pool, "matrix": parse_matrix(matrix or [])}
    if schedule_id is not None:
        request["id"] = schedule_id
    schedule = farm().api_client.add_schedule(request)
    if as_json:
        print_json(schedule)
        return
    out.print(f"schedule {schedule['id']}: {schedule['spec']['name']} at {schedule['cron']} (UTC); next fire "
              f"{schedule['next_fire']}", highlight=False)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Schedules the token may see, with their next fire time and what their latest fire did."""
    rows = farm().api_client.schedules()
    if as_json:
        print_json(rows)
        return
    table = Table("id", "benchmark", "cron (UTC)", "next fire", "last fire", "last job / campaign / refusal",
                  "created by")
    for r in rows:
        fire = r["last_fire"] or {}
        what = r["spec"].get("name", "") + (" (campaign)" if r["across"] or r["each_host"] or r["matrix"] else "")
        table.add_row(r["id"], what, r["cron"], r["next_fire"][:19], (fire.get("fire_at") or "-")[:19],
                      fire.get("job_id") or fire.get("campaign_id") or fire.get("error") or "-",
                      r.get("created_by") or "-")
    out.print(table)


@app.command()
def remove(schedule_id: Annotated[str, typer.Argument(help="Schedule id.")], as_json: JsonOpt = False) -> None:
    """Remove a schedule (your team's; an operator's token removes any); jobs it already submitted stay.
    Exit code 2 for an unknown id or another team's schedule."""
    schedule = farm().api_client.remove_schedule(schedule_id)
    if as_json:
        print_json(schedule)
        return
    out.print(f"removed schedule {schedule['id']}", highlight=False)
