"""`benchfarm ab SPEC --baseline-image REF`: an A/B verdict from baseline and candidate jobs run alternately.

Where `benchfarm compare` judges one finished job against a stored baseline, this runs both sides now, in
short jobs in the order A B B A A B B A ..., so the machine's drift between jobs falls on both alike (see
benchfarm.interleaved.runner). The spec's own image is the candidate. The verdict, exit code and JUnit XML
have the same shape as `benchfarm compare`'s.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from benchfarm.cli.api_jobs import ApiJobs
from benchfarm.cli.compare_cmd import verdict_table
from benchfarm.cli.console import err, out, print_json, progress
from benchfarm.interleaved.runner import DEFAULT_AB_MAX_REGRESSION_PCT, DEFAULT_MAX_PAIRS, DEFAULT_PAIRS


def ab(
    spec_file: Annotated[Path, typer.Argument(help="Job spec; its image is the candidate.", exists=True,
                                              dir_okay=False)],
    baseline_image: Annotated[str, typer.Option("--baseline-image", "-b", help="The image to compare against "
                                                "(e.g. the same benchmark built from main).")],
    pairs: Annotated[int, typer.Option(help="Jobs per side, run alternately (A B B A ...); with --detect, "
                                       "the least.")] = DEFAULT_PAIRS,
    detect: Annotated[float | None, typer.Option(
        help="Run A B B A blocks until the farm's power table says the values catch a change of this many "
             "percent (rows: 2 at a 1% threshold, 5 at 3%, 10 at 5%), up to --max-pairs.")] = None,
    max_pairs: Annotated[int, typer.Option(help="With --detect: the most jobs per side.")] = DEFAULT_MAX_PAIRS,
    reps_per_job: Annotated[int, typer.Option(help="Measured repetitions in each job (the spec's warm-up "
                                              "runs before them).")] = 1,
    threshold: Annotated[float | None, typer.Option(
        help="Largest tolerated change of a metric's median in percent (default: the spec's "
             f"max_regression_pct when it sets one, else {DEFAULT_AB_MAX_REGRESSION_PCT}).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write the verdict as JUnit XML to this file.")]
    = None,
) -> int:
    """Run the spec with --baseline-image and with its own image in alternating jobs and give the verdict:
    per metric the ratio of medians with its 95% CI, a Mann-Whitney U p-value, improved / regressed /
    no change.

    Exit codes: 0 no metric regressed, 1 a metric regressed, 2 a bad spec or option,
    4 the farm is unreachable, 5 a job failed.
    """
    from benchfarm.analysis.junit import to_junit_xml
    from benchfarm.cli.farm import farm
    from benchfarm.interleaved.runner import InterleavedComparison
    from benchfarm.spec.loader import load_spec_file

    spec = load_spec_file(spec_file)
    if threshold is None and "max_regression_pct" not in spec.thresholds.model_fields_set:
        threshold = DEFAULT_AB_MAX_REGRESSION_PCT
    ab_id = f"ab-{uuid.uuid4().hex[:10]}"
    count = f"{pairs}-{max_pairs} jobs (until a {detect:g}% change is caught)" if detect else f"{pairs} jobs"
    progress(f"{ab_id}: {count} each of {baseline_image} (baseline) and {spec.image} (candidate), "
             f"{reps_per_job} measured repetition(s) a job, alternating")
    runner = InterleavedComparison(ApiJobs(farm().api_client), progress=progress)
    result = runner.run(spec.model_dump(mode="json"), baseline_image, pairs=pairs, reps_per_job=reps_per_job,
                        threshold_pct=threshold, ab_id=ab_id, detect_pct=detect, max_pairs=max_pairs)
    for w in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    data = {"ab_id": ab_id, "job_id": ab_id, "baseline_id": baseline_image, "baseline_ref": "interleaved",
            **result.to_dict()}
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(to_junit_xml(result.comparison, spec.name, ab_id))
    if as_json:
        print_json(data)
    else:
        out.print(verdict_table(data))
    return int(result.comparison.exit_code)


def register(app: typer.Typer) -> None:
    app.command("ab")(ab)
