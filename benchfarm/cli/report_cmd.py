"""`benchfarm report JOB_ID... -o report.html`: a self-contained HTML report with plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchfarm.cli.console import out, progress


def report(
    job_ids: Annotated[list[str], typer.Argument(help="One or more job ids.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("report.html"),
    baseline: Annotated[str | None, typer.Option(help="Add a comparison with this baseline: a job id, "
                                                 "label:KEY=VALUE, BRANCH@GITREF or latest.")] = None,
) -> None:
    """Write a self-contained HTML report (timelines of the collectors' samples, distributions of
    repetitions) for people without Kibana."""
    from benchfarm.cli.farm import farm
    from benchfarm.report import write_report

    progress(f"fetching {len(job_ids)} job(s) and their samples")
    f = farm()
    path = write_report(job_ids, f.api_client, f.es, f.settings.index_prefix, output, baseline=baseline)
    out.print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
