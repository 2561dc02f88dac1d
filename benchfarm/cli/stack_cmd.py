"""`benchfarm stack`: the one-host farm on this machine."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from benchfarm.cli.console import out, print_json, progress
from benchfarm.settings import get_settings
from benchfarm.stack.stack import Stack

app = typer.Typer(help="Run this machine as a one-host farm: Docker, Redis, Elasticsearch, Salt, the API and a worker.",
                  no_args_is_help=True)

Only = Annotated[list[str] | None, typer.Option("--only", help="Limit to these services (repeatable).")]


@app.command()
def up(only: Only = None) -> None:
    """Install what is missing and start every service that is not running (safe to run twice)."""
    Stack(get_settings()).up(progress, only=only)
    out.print("[green]stack is up[/green] — `benchfarm stack status` shows it")


@app.command()
def down(only: Only = None) -> None:
    """Stop the services the stack started (by pid); services it found running are left alone."""
    Stack(get_settings()).down(progress, only=only)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show each service's address, pid and health; exits 1 when any service is down."""
    statuses = Stack(get_settings()).status()
    if as_json:
        print_json([s.to_dict() for s in statuses])
    else:
        table = Table("service", "health", "pid", "managed by", "address", "detail")
        for s in statuses:
            table.add_row(s.name, "[green]healthy[/green]" if s.healthy else "[red]down[/red]",
                          str(s.pid or "-"), s.managed_by, s.address, s.detail)
        out.print(table)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


@app.command()
def supervise(
    interval: Annotated[float, typer.Option(help="Seconds between looks at the services.")] = 1.0,
    burst: Annotated[int, typer.Option(help="Restarts of one service allowed within --window.")] = 5,
    window: Annotated[float, typer.Option(help="Seconds of the restart limit's window.")] = 600.0,
) -> None:
    """Restart the stack's services that die (`stack up` runs this as the `supervisor` service).

    Watches only services the stack started; one stopped with `stack down` stays stopped; after
    --burst restarts within --window it gives up on a service and `stack status` shows it.
    """
    import logging
    import signal

    from benchfarm.stack.services.supervisor import run_supervisor
    from benchfarm.stack.supervisor import RestartLimit

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a health check per second is not news
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    run_supervisor(Stack(get_settings()).services, RestartLimit(burst, window), lambda: bool(stopping), interval)


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="docker, redis, elasticsearch, salt-master, salt-minion, ...")],
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many lines from the end.")] = 100,
) -> None:
    """Show the end of a service's log."""
    svc = Stack(get_settings()).service(service)
    text = svc.process.log_tail(lines)
    out.print(text or f"(no log yet at {svc.process.log_file})", highlight=False, markup=False)
