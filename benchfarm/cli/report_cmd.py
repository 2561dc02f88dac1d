"""`benchfarm report JOB_ID... -o report.html`: a self-contained HTML report with plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchfarm.cli.console import out, progress


def _series_keys(history: list[str], host: str | None, hw_class: str | None, branch: str | None) -> list:
    from benchfarm.analysis.history import SeriesKey
    from benchfarm.errors import UserInputError

    keys = []
    for item in history:
        name, sep, metric = item.rpartition(":")
        if not sep or not name or not metric:
            raise UserInputError(f"--history {item!r} is not NAME:METRIC", hint="e.g. --history sysbench-cpu:events")
        try:
            keys.append(SeriesKey(name, metric, host_id=host, hardware_class=hw_class, branch=branch))
        except ValueError as exc:
            raise UserInputError(str(exc), hint="see `benchfarm report --help`") from exc
    return keys


def report(
    job_ids: Annotated[list[str] | None, typer.Argument(help="Job ids (optional with --history).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("report.html"),
    baseline: Annotated[str | None, typer.Option(help="Add a comparison with this baseline: a job id, "
                                                 "label:KEY=VALUE, BRANCH@GITREF or latest.")] = None,
    history: Annotated[list[str] | None, typer.Option(
        "--history", help="Add the history of benchmark NAME's METRIC (NAME:METRIC; repeatable) with its "
        "change points, as `benchfarm history --changes` finds them.")] = None,
    host: Annotated[str | None, typer.Option("--history-host", help="History of this host id only.")] = None,
    hw_class: Annotated[str | None, typer.Option("--history-class",
                                                 help="History of this hardware class only.")] = None,
    branch: Annotated[str | None, typer.Option("--history-branch", help="History of jobs labelled "
                                               "git_branch=BRANCH only.")] = None,
) -> None:
    """Write a self-contained HTML report (timelines of the collectors' samples, distributions of
    repetitions; with --history a benchmark's series with its change points) for people without Kibana.

    Exit codes: 0 success; 2 bad arguments or unknown job; 4 the API or Elasticsearch cannot be reached.
    """
    from benchfarm.cli.farm import farm
    from benchfarm.errors import UserInputError
    from benchfarm.report import history_sections, write_report

    ids = list(job_ids or [])
    keys = _series_keys(list(history or []), host, hw_class, branch)
    if not ids and not keys:
        raise UserInputError("nothing to report", hint="give job ids, --history NAME:METRIC, or both")
    f = farm()
    sections = []
    if keys:
        progress(f"reading {len(keys)} history series and detecting change points")
        sections = history_sections(keys, f.store_repository)
    if ids:
        progress(f"fetching {len(ids)} job(s) and their samples")
    path = write_report(ids, f.api_client, f.es, f.settings.index_prefix, output, baseline=baseline,
                        extra_sections=sections)
    out.print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
