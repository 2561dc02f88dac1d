"""`benchfarm schedule add|list|remove`: recurring jobs, fired by the workers' schedulers (benchfarm.schedules).

Schedules live in Redis beside the jobs, so this talks to Redis through the composition root, as
`benchfarm history` reads Elasticsearch directly. A schedule's job is submitted as the schedule was made:
its spec (validated now, its image resolved at every fire), labelled with the schedule id and fire time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

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

    Exit codes: 0 added; 2 bad spec, cron expression, targets, matrix or id, or the id exists; 4 Redis cannot
    be reached.
    """
    import getpass
    import socket
    from datetime import UTC, datetime

    from benchfarm.campaigns.plan import parse_matrix, parse_targets
    from benchfarm.errors import UserInputError
    from benchfarm.schedules.cron import next_fire, validate
    from benchfarm.schedules.model import ID_PATTERN, Schedule, new_schedule_id
    from benchfarm.spec.loader import load_spec_file

    spec = load_spec_file(spec_file)
    targets = [t.label for t in parse_targets(across or [])]  # refused now, not at the first fire
    axes = parse_matrix(matrix or [])
    unknown = [k for k in axes if k not in spec.env]
    if unknown:
        raise UserInputError(f"--matrix {', '.join(unknown)}: not an environment variable of the spec",
                             hint=f"its env: {', '.join(spec.env) or 'none'}")
    try:
        expr = validate(cron)
    except ValueError as exc:
        raise UserInputError(str(exc), hint='e.g. --cron "0 2 * * *" (every day at 02:00 UTC)') from exc
    if schedule_id is not None and not ID_PATTERN.match(schedule_id):
        raise UserInputError(f"schedule id {schedule_id!r} is not lower-case letters, digits, '.', '_' or '-'")
    if visibility not in ("private", "public"):
        raise UserInputError(f"--visibility {visibility!r}: give private or public")
    vis: Literal["private", "public"] = "public" if visibility == "public" else "private"
    schedule = farm().schedules.add(Schedule(
        id=schedule_id or new_schedule_id(), cron=expr, spec=spec.model_dump(mode="json"),
        created_at=datetime.now(UTC), created_by=f"{getpass.getuser()}@{socket.gethostname()}", visibility=vis,
        across=targets, each_host=each_host, pool=pool, matrix=axes))
    if as_json:
        print_json(schedule.model_dump(mode="json"))
        return
    out.print(f"schedule {schedule.id}: {schedule.name} at {expr} (UTC); next fire "
              f"{next_fire(expr, datetime.now(UTC)).isoformat()}", highlight=False)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Schedules, with their next fire time and what their latest fire did."""
    from datetime import UTC, datetime

    from benchfarm.schedules.cron import next_fire

    repo = farm().schedules
    now = datetime.now(UTC)
    last = repo.last_fires()
    rows = []
    for s in repo.list():
        latest = last.get(s.id)
        rows.append({**s.model_dump(mode="json"), "next_fire": next_fire(s.cron, now).isoformat(),
                     "last_fire": latest.model_dump(mode="json") if latest else None})
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
    """Remove a schedule; jobs it already submitted stay. Exit code 2 for an unknown id."""
    schedule = farm().schedules.remove(schedule_id)
    if as_json:
        print_json(schedule.model_dump(mode="json"))
        return
    out.print(f"removed schedule {schedule.id}", highlight=False)
