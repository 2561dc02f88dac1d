"""`benchfarm compare`: a job's verdict against a baseline, for people and CI servers.

The comparison runs in the API (``GET /jobs/{id}/compare`` and ``/junit``), so the
CLI, Jenkins and anything else reading the API see the same numbers. A suspected
regression is re-run once to confirm it (``--confirm``, on by default when the
environment has ``CI=true``): the same spec is submitted again with the label
``benchfarm_confirmation_of=<job id>`` and the regression stands only if the re-run
regresses too against the same baseline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from benchfarm.cli.console import err, out, print_json
from benchfarm.cli.farm import farm
from benchfarm.client import ApiClient

CONFIRMATION_LABEL = "benchfarm_confirmation_of"  # benchfarm.analysis.baselines.CONFIRMATION_LABEL

BaselineOpt = Annotated[str, typer.Option(
    "--baseline", "-b",
    help="Baseline: a job id, label:KEY=VALUE, BRANCH@GITREF (labels git_branch/git_ref) or 'latest' "
         "(the latest succeeded run of the same spec on the same hardware class).")]
JunitOpt = Annotated[Path | None, typer.Option("--junit", help="Write the verdict as JUnit XML to this file.")]
ConfirmOpt = Annotated[bool | None, typer.Option(
    "--confirm/--no-confirm",
    help="Re-run the job once to confirm a suspected regression before reporting it "
         "(default: on when the environment has CI=true).")]


def confirm_default(flag: bool | None) -> bool:
    """``--confirm``/``--no-confirm`` as given, else on exactly when ``CI=true``."""
    if flag is not None:
        return flag
    return os.environ.get("CI", "").strip().lower() == "true"


def _params(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def rerun_job(client: ApiClient, job_id: str, quiet: bool) -> dict[str, Any]:
    """Submit the job's spec again as a confirmation run, wait and return its final record."""
    from benchfarm.cli.job_progress import wait_with_progress

    spec = dict(client.job(job_id)["spec"])
    spec["labels"] = {**(spec.get("labels") or {}), CONFIRMATION_LABEL: job_id}
    accepted = client.submit(spec)
    err.print(f"suspected regression: re-running {job_id} as {accepted['id']} to confirm it", highlight=False)
    return wait_with_progress(client, accepted["id"], quiet=quiet)


def verdict(client: ApiClient, job_id: str, baseline: str, *, confirm: bool, junit: Path | None,
            quiet: bool = False) -> dict[str, Any]:
    """Compare ``job_id`` with ``baseline`` through the API, confirm a suspected regression, write JUnit.

    Returns:
        The comparison as the API gives it (``exit_code`` 0 or 1, ``metrics``...).

    Raises:
        BenchmarkFailedError: the confirmation re-run did not succeed.
        UserInputError, NotFoundError: unknown job or baseline, or a job that did not succeed.
        ServiceUnavailableError: the API cannot be reached.
    """
    from benchfarm.errors import BenchmarkFailedError

    data = client.get(f"/jobs/{job_id}/compare", baseline=baseline).json()
    rerun_id = None
    if data["needs_confirmation"] and confirm:
        again = rerun_job(client, job_id, quiet)
        if again["status"] != "succeeded":
            raise BenchmarkFailedError(
                f"the confirmation re-run {again['id']} {again['status']}: {again.get('reason')}",
                hint=f"see `benchfarm jobs logs {again['id']}`; the suspected regression is unconfirmed")
        rerun_id = again["id"]
        data = client.get(f"/jobs/{job_id}/compare", **_params(baseline=data["baseline_id"], rerun=rerun_id)).json()
    if junit is not None:
        xml = client.get(f"/jobs/{job_id}/junit", **_params(baseline=data["baseline_id"], rerun=rerun_id)).text
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(xml)
    return data


def verdict_table(data: dict[str, Any]) -> Table:
    """The per-metric verdicts as a table."""
    table = Table(title=f"{data['job_id']} vs baseline {data['baseline_id']} ({data['baseline_ref']})")
    for col in ("metric", "verdict", "baseline median", "candidate median", "ratio [95% CI]", "change", "p"):
        table.add_column(col, justify="left" if col in ("metric", "verdict") else "right")

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.4g}"

    colour = {"regressed": "red", "improved": "green"}
    for m in data["metrics"]:
        ci = f" [{f(m['ratio_ci95'][0])}, {f(m['ratio_ci95'][1])}]" if m.get("ratio_ci95") else ""
        word = m["verdict"] + (" (unconfirmed)" if m.get("needs_confirmation") else "")
        if m.get("confirmed") is not None:
            word += " (re-run: " + ("confirmed" if m["confirmed"] else "not reproduced") + ")"
        c = colour.get(m["verdict"])
        table.add_row(m["metric"], f"[{c}]{word}[/{c}]" if c else word, f(m["baseline_median"]),
                      f(m["candidate_median"]), f(m["ratio"]) + ci,
                      "-" if m["change_pct"] is None else f"{m['change_pct']:+.2f}%", f(m["p_value"]))
    for name, reason in data.get("skipped", {}).items():
        table.add_row(name, "skipped", "", "", "", "", reason)
    return table


def compare(
    job_id: Annotated[str, typer.Argument(help="The candidate job's id.")],
    baseline: BaselineOpt = "latest",
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    junit: JunitOpt = None,
    confirm: ConfirmOpt = None,
) -> int:
    """Compare a finished job with a baseline: per metric, the ratio of medians with its
    95% CI, a Mann-Whitney U p-value and a verdict (improved, regressed, no change)
    against the spec's thresholds, respecting each metric's direction.

    Exit codes: 0 no metric regressed, 1 a metric regressed, 2 no verdict (unknown
    job or baseline, a job that did not succeed, a bad reference), 4 the farm is
    unreachable, 5 the confirmation re-run failed.
    """
    client = farm().api_client
    data = verdict(client, job_id, baseline, confirm=confirm_default(confirm), junit=junit, quiet=as_json)
    if as_json:
        print_json(data)
    else:
        out.print(verdict_table(data))
    return int(data["exit_code"])


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
