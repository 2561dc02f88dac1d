"""`benchfarm pool`: pools of hosts (list, create, add a host, drain, remove)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from benchfarm.cli.console import out, print_json
from benchfarm.cli.farm import audit, farm
from benchfarm.inventory.pools import PoolStore

app = typer.Typer(help="Pools of hosts: list, create, add, drain, remove.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _pools() -> PoolStore:
    return farm().pools


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Pools with their hosts."""
    rows = _pools().list()
    if as_json:
        print_json(rows)
        return
    table = Table("pool", "draining", "hosts", "description")
    for r in rows:
        table.add_row(r["name"], "yes" if r["draining"] else "no", ", ".join(r["hosts"]) or "-", r["description"])
    out.print(table)


@app.command()
def create(name: str, description: Annotated[str, typer.Option(help="What the pool is for.")] = "") -> None:
    """Declare a pool."""
    _pools().create(name, description)
    out.print(f"pool {name} created")


@app.command()
def add(name: str, host: str) -> None:
    """Move a registered host into pool NAME."""
    _pools().add(name, host)
    out.print(f"{host} is in pool {name}")


@app.command()
def drain(name: str, as_json: JsonOpt = False) -> None:
    """Stop new jobs landing in the pool (its hosts go to maintenance; running jobs finish)."""
    ret = _pools().drain(name)
    audit("pools.drain", name, "hosts: " + ", ".join(ret["hosts"]))
    print_json(ret) if as_json else out.print(f"pool {name} draining: {', '.join(ret['hosts']) or 'no hosts'}")


@app.command()
def remove(name: str) -> None:
    """Delete an empty pool."""
    _pools().remove(name)
    out.print(f"pool {name} removed")
