"""`benchfarm history NAME METRIC`: a benchmark's per-job medians over time, and its change points.

Reads the job summaries from Elasticsearch directly (the store, as `benchfarm report` does). With
``--changes`` the series is run through the change-point detector and what it finds is stored in the
``<prefix>-changepoints`` index (replacing earlier detections of the same change) and printed.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from benchfarm.cli.console import out, print_json, progress


def history(
    name: Annotated[str, typer.Argument(help="Benchmark (spec) name.")],
    metric: Annotated[str, typer.Argument(help="Metric name, as in the results (m.<metric>).")],
    host: Annotated[str | None, typer.Option("--host", help="Only results from this host id.")] = None,
    hw_class: Annotated[str | None, typer.Option("--class", help="Only results from this hardware class.")] = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Only jobs labelled git_branch=BRANCH.")] = None,
    changes: Annotated[bool, typer.Option("--changes", help="Detect change points and store them.")] = False,
    min_segment: Annotated[int, typer.Option(help="Fewest jobs on each side of a change.")] = 5,
    min_magnitude: Annotated[float, typer.Option(help="Smallest relative change of the median (0.02 = 2%).")] = 0.02,
    max_p: Annotated[float, typer.Option("--max-p", help="Largest corrected p-value of a change.")] = 0.001,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the history of METRIC for benchmark NAME (one point per succeeded job), with --changes its change points.

    Exit codes: 0 success; 2 bad arguments; 4 Elasticsearch cannot be reached.
    """
    from benchfarm.analysis.changepoints import DetectorConfig, detect
    from benchfarm.analysis.history import SeriesKey, as_dict, build_series, changepoint_docs
    from benchfarm.cli.farm import farm
    from benchfarm.errors import UserInputError

    try:
        key = SeriesKey(name, metric, host_id=host, hardware_class=hw_class, branch=branch)
        config = DetectorConfig(min_segment=min_segment, min_magnitude=min_magnitude, max_p_value=max_p)
    except ValueError as exc:
        raise UserInputError(str(exc), hint="see `benchfarm history --help`") from exc
    store = farm().store_repository
    progress(f"reading the history of {key.name()}")
    series = build_series(store.job_summaries(key.query()), metric)
    docs: list[dict] = []
    if changes:
        points = detect([p.value for p in series], config)
        pairs = changepoint_docs(key, series, points)
        if pairs:
            store.put_changepoints(pairs)
        docs = [d for _, d in pairs]
    if as_json:
        data = {"series": key.name(), "points": [as_dict(p) for p in series]}
        if changes:
            data["changes"] = docs
        print_json(data)
        return
    table = Table(title=f"{key.name()}: {len(series)} jobs")
    for col in ("#", "finished", "job", "git ref", metric):
        table.add_column(col)
    starts = {d["index"] for d in docs}
    for i, p in enumerate(series):
        mark = " [bold yellow]<- change[/bold yellow]" if i in starts else ""
        table.add_row(str(i), p.at, p.job_id, p.git_ref or "", f"{p.value:.6g}{mark}")
    out.print(table)
    for d in docs:
        mag = f"{d['magnitude']:+.1%}" if d["magnitude"] is not None else "from zero"
        out.print(f"change at #{d['index']}: {d['before']:.6g} -> {d['after']:.6g} ({mag}, p={d['p_value']:.2g}) "
                  f"between jobs {d['job_before']} and {d['job_after']}", highlight=False)
    if changes and not docs:
        out.print("no change points", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("history")(history)
