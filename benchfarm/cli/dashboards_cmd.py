"""`benchfarm dashboards`: list the Kibana saved objects and install them into a Kibana."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from benchfarm.cli.console import out, print_json
from benchfarm.dashboards.generate import NDJSON_NAME
from benchfarm.dashboards.queries import DASHBOARDS_DIR
from benchfarm.errors import NotFoundError

app = typer.Typer(help="Kibana dashboards (dashboards/): list them, install them into a Kibana.",
                  no_args_is_help=True)


def _ndjson() -> str:
    path = DASHBOARDS_DIR / NDJSON_NAME
    if not path.is_file():
        raise NotFoundError(f"no saved objects at {path}", hint="regenerate: python -m benchfarm.dashboards.generate")
    return path.read_text()


@app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the saved objects (data views, visualizations, dashboards) shipped in dashboards/."""
    rows = [json.loads(line) for line in _ndjson().splitlines() if line.strip()]
    listing = [{"type": o["type"], "id": o["id"], "title": o["attributes"].get("title", "")} for o in rows]
    if as_json:
        print_json(listing)
        return
    table = Table("type", "id", "title")
    for row in listing:
        table.add_row(row["type"], row["id"], row["title"])
    out.print(table)


@app.command("install")
def install_cmd(
    kibana: Annotated[str, typer.Option("--kibana", help="Kibana base URL, e.g. http://kibana:5601")],
    space: Annotated[str | None, typer.Option("--space", help="Kibana space id (default space if omitted).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Kibana user (basic auth).")] = None,
    password: Annotated[str | None, typer.Option("--password", envvar="BENCHFARM_KIBANA_PASSWORD",
                                                 help="Password (or BENCHFARM_KIBANA_PASSWORD).")] = None,
) -> None:
    """Import the saved objects into Kibana (overwriting objects with the same ids)."""
    from benchfarm.dashboards.install import install

    result = install(kibana, _ndjson(), space=space, auth=(user, password or "") if user else None)
    out.print(f"imported {result.success_count} saved objects into {kibana}" + (f" (space {space})" if space else ""))
