"""`benchfarm worker`: this host's Celery worker."""

from __future__ import annotations

from typing import Annotated

import typer

from benchfarm.cli.console import print_json
from benchfarm.settings import get_settings

app = typer.Typer(help="The pool host's worker: runs benchmark jobs from its capability queues.",
                  no_args_is_help=True)


@app.command()
def run(
    queue: Annotated[list[str] | None, typer.Option("--queue", "-Q", help="Consume these queues instead of the ones "
                                                     "the host's capabilities allow (repeatable).")] = None,
) -> None:
    """Register this host and run jobs until stopped."""
    from benchfarm.worker.service import run_worker

    run_worker(get_settings(), queue)


@app.command()
def capabilities(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = True) -> None:
    """Show what this host offers the scheduler and which queues its worker consumes."""
    from benchfarm.cli.farm import farm
    from benchfarm.scheduler.queues import queues_for_host

    caps = farm().capabilities
    print_json({"capabilities": caps.model_dump(mode="json"), "queues": queues_for_host(caps)})
