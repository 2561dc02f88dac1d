"""Entry point and the CLI's one error boundary.

Exit codes:
  0  success
  1  a benchfarm error not covered below, or (for ``submit --baseline``) a regression
  2  bad input: malformed spec, unknown id, unsatisfiable job, bad arguments
  3  setup problem on this machine (not root, missing package, port taken)
  4  a service (Docker, Redis, Elasticsearch, Salt, the API) cannot be reached
  5  the benchmark itself failed (non-zero exit, timeout, OOM)
  130 interrupted
Unexpected errors print one line and the path of the log holding the traceback.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import traceback
from pathlib import Path

import typer

from benchfarm.cli.console import err
from benchfarm.errors import BenchfarmError

app = typer.Typer(
    name="benchfarm",
    help="A benchmark farm for heterogeneous hardware. Run `benchfarm stack up` to start the one-host farm.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_SUBCOMMANDS = [
    ("benchfarm.cli.stack_cmd", "stack"),
    ("benchfarm.cli.image_cmd", "image"),
    ("benchfarm.cli.spec_cmd", "spec"),
    ("benchfarm.cli.jobs_cmd", "jobs"),
    ("benchfarm.cli.submit_cmd", None),
    ("benchfarm.cli.compare_cmd", None),
    ("benchfarm.cli.api_cmd", "api"),
    ("benchfarm.cli.worker_cmd", "worker"),
    ("benchfarm.cli.hosts_cmd", "hosts"),
    ("benchfarm.cli.pool_cmd", "pool"),
    ("benchfarm.cli.dashboards_cmd", "dashboards"),
    ("benchfarm.cli.report_cmd", None),
]


def _register() -> None:
    import importlib

    for module_name, name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a part not built yet must not break the rest
            if exc.name == module_name:
                continue
            raise
        if name is None:
            module.register(app)  # top-level commands such as `benchfarm submit`
        else:
            app.add_typer(module.app, name=name)


def _log_traceback() -> Path:
    log = Path(tempfile.gettempdir()) / "benchfarm-error.log"
    log.write_text(traceback.format_exc())
    return log


def main(argv: list[str] | None = None) -> int:
    """Run the CLI, mapping exceptions to exit codes and one actionable line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        result = app(args=argv, standalone_mode=False)
        if isinstance(result, int):
            return result
    except BenchfarmError as exc:
        err.print(f"[bold red]error:[/bold red] {exc.full_message()}", highlight=False)
        if exc.hint:
            err.print(f"[yellow]hint:[/yellow] {exc.hint}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:  # the boundary: never a raw traceback on the console
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        if isinstance(exc, click.exceptions.Abort):
            err.print("aborted")
            return 130
        log = _log_traceback()
        err.print(f"[bold red]internal error:[/bold red] {type(exc).__name__}: {exc} (traceback in {log})", highlight=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
