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
import os
import stat
import sys
import tempfile
import traceback
from pathlib import Path

import typer
from rich.markup import escape

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
    ("benchfarm.cli.campaign_cmd", "campaign"),
    ("benchfarm.cli.api_cmd", "api"),
    ("benchfarm.cli.worker_cmd", "worker"),
    ("benchfarm.cli.hosts_cmd", "hosts"),
    ("benchfarm.cli.pool_cmd", "pool"),
    ("benchfarm.cli.nodes_cmd", "nodes"),
    ("benchfarm.cli.dashboards_cmd", "dashboards"),
    ("benchfarm.cli.tokens_cmd", "tokens"),
    ("benchfarm.cli.report_cmd", None),
    ("benchfarm.cli.history_cmd", None),
    ("benchfarm.cli.schedule_cmd", "schedule"),
    ("benchfarm.cli.bisect_cmd", None),
    ("benchfarm.cli.ab_cmd", None),
]


def _register() -> None:
    import importlib

    for module_name, name in _SUBCOMMANDS:
        module = importlib.import_module(module_name)  # every command is there: a missing one is a bug, not skipped
        if name is None:
            module.register(app)  # top-level commands such as `benchfarm submit`
        else:
            app.add_typer(module.app, name=name)


def _private_log_dir() -> Path | None:
    """``<state_dir>/logs``, created 0700; None unless it is a real directory only we can write.

    A path that is a symlink, owned by someone else or open to others is never
    used, so nobody can steer the traceback (which may hold secrets) elsewhere.
    """
    try:
        from benchfarm.settings import get_settings

        directory = get_settings().state_dir / "logs"
    except Exception:  # broken settings may be the very error being logged
        return None
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:  # no state dir, or not ours to write
        return None
    try:
        st = os.lstat(directory)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        return None
    return directory


def _log_traceback() -> Path:
    """Write the current exception's traceback to a new private file and return its path.

    The file is created by ``mkstemp`` (mode 0600, a fresh unpredictable name,
    ``O_EXCL`` so it never opens through an existing path or symlink) in
    ``<state_dir>/logs`` when that is usable, else in the temporary directory.
    """
    text = traceback.format_exc()
    directory = _private_log_dir()
    try:
        fd, name = tempfile.mkstemp(prefix="benchfarm-error-", suffix=".log", dir=directory)
    except OSError:
        if directory is None:
            raise
        fd, name = tempfile.mkstemp(prefix="benchfarm-error-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as log:
        log.write(text)
    return Path(name)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI, mapping exceptions to exit codes and one actionable line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        result = app(args=argv, standalone_mode=False)
        if isinstance(result, int):
            return result
    except BenchfarmError as exc:
        err.print(f"[bold red]error:[/bold red] {escape(exc.full_message())}", highlight=False, soft_wrap=True)
        if exc.hint:
            err.print(f"[yellow]hint:[/yellow] {escape(exc.hint)}", highlight=False, soft_wrap=True)
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

        # typer >= 0.25 raises its own copy of click's exceptions (typer._click), not click's
        if isinstance(exc, (click.exceptions.ClickException, typer.TyperException)) and hasattr(exc, "show"):
            exc.show()
            return 2
        if isinstance(exc, (click.exceptions.Abort, typer.Abort)):
            err.print("aborted")
            return 130
        log = _log_traceback()
        err.print(f"[bold red]internal error:[/bold red] {escape(f'{type(exc).__name__}: {exc} (traceback in {log})')}",
                  highlight=False, soft_wrap=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
