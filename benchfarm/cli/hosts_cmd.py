"""`benchfarm hosts`: the farm's hosts from Salt grains, quarantine/release, and drift.

Runs on the Salt master host (as root: it talks to the master's local socket).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from benchfarm.cli.console import out, print_json, progress
from benchfarm.cli.farm import audit, farm
from benchfarm.inventory.inventory import Inventory

app = typer.Typer(help="Hosts of the farm (from Salt grains): list, quarantine, drain, release, drift.",
                  no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _inventory() -> Inventory:
    return farm().inventory


@app.command("list")
def list_(
    as_json: JsonOpt = False,
    sync: Annotated[bool, typer.Option(help="Read the minions' grains first (hosts answering Salt).")] = True,
) -> None:
    """Hosts: id, pool, capabilities, status (and why), running jobs."""
    inv = _inventory()
    if sync:
        inv.sync_from_grains()
    rows = inv.describe()
    if as_json:
        print_json(rows)
        return
    table = Table("host", "pool", "status", "why", "cpus", "memory", "gpus", "fpgas", "running")
    for r in rows:
        table.add_row(r["host_id"], r["pool"], r["status"], r.get("status_reason") or "", str(r["cpu_count"]),
                      f"{r['memory_bytes'] >> 30} GiB", ", ".join(g["model"] for g in r["gpus"]) or "-",
                      ", ".join(f"{f['vendor']} {f['model']}" for f in r["fpgas"]) or "-",
                      ", ".join(r["running_jobs"]) or "-")
    out.print(table)


@app.command()
def quarantine(
    host: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (shown by `hosts list`).")],
    as_json: JsonOpt = False,
) -> None:
    """Take a host out of scheduling: its worker takes no job until it is released."""
    ret = _inventory().quarantine(host, reason)
    audit("hosts.quarantine", host, reason)
    print_json(ret) if as_json else out.print(f"{host}: quarantined ({reason})")


@app.command()
def drain(
    host: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (shown by `hosts list`).")] = "drained by operator",
    as_json: JsonOpt = False,
) -> None:
    """Give a host no new job; the job it runs finishes. `hosts release HOST` ends the drain."""
    ret = _inventory().drain(host, reason)
    audit("hosts.drain", host, reason)
    if as_json:
        print_json(ret)
        return
    running = ", ".join(ret["running_jobs"])
    out.print(f"{host}: draining" + (f" (finishing {running})" if running else " (no job running)"))


@app.command()
def release(
    host: str,
    reason: Annotated[str, typer.Option("--reason", help="Why.")] = "released by operator",
    as_json: JsonOpt = False,
) -> None:
    """Put a quarantined or drained host back into scheduling."""
    ret = _inventory().release(host, reason)
    audit("hosts.release", host, reason)
    print_json(ret) if as_json else out.print(f"{host}: released")


@app.command()
def drift(
    target: Annotated[str, typer.Option(help="Salt target (glob of minion ids).")] = "*",
    quarantine_drifted: Annotated[bool, typer.Option("--quarantine/--no-quarantine",
                                                     help="Quarantine drifted hosts (the policy).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Apply the farm's states in test mode and list each host whose real state deviates.

    Exit status 1 when a host drifted (or its states did not render)."""
    from benchfarm.inventory.drift import detect_drift

    inv = _inventory()
    progress(f"state.apply test=True on {target} (can take minutes)")
    report = detect_drift(inv.salt, target)
    if quarantine_drifted:
        registered = {h["host_id"] for h in inv.describe()}
        for hd in report:
            if hd.drifted and hd.host_id in registered:
                inv.quarantine(hd.host_id, "drift: " + ", ".join(i.state_id for i in hd.items))
    if as_json:
        print_json([hd.as_dict() for hd in report])
    else:
        table = Table("host", "drifted", "state", "name", "comment")
        for hd in report:
            if not hd.items:
                table.add_row(hd.host_id, "no" if not hd.error else "error", "-", "-", hd.error or "")
            for it in hd.items:
                table.add_row(hd.host_id, "yes", it.state_id, it.name, it.comment)
        out.print(table)
    if any(hd.drifted or hd.error for hd in report):
        raise typer.Exit(1)
