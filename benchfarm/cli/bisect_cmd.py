"""`benchfarm bisect SPEC --good REV --bad REV`: the first revision whose image regressed a metric.

The revisions' images are found by their ``org.opencontainers.image.revision`` label among the tags of the
spec's image repository in the farm registry (``--images engine``: the images on this machine's engine);
the order comes from ``--revisions`` or from ``git rev-list`` in
``--git-repo``. Jobs go through the API, like `benchfarm submit`; results of finished jobs of the same spec
name on the same image are reused; the state is kept in Redis, so running the same command again resumes
an interrupted bisection (see benchfarm.bisect.runner).
"""

from __future__ import annotations

import subprocess
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from benchfarm.cli.api_jobs import ApiJobs
from benchfarm.cli.console import out, print_json, progress


class ImageSource(StrEnum):
    """Where `benchfarm bisect` looks for the revisions' images."""

    REGISTRY = "registry"
    ENGINE = "engine"


def _git_revisions(repo: Path, good: str, bad: str) -> list[str]:
    from benchfarm.errors import UserInputError

    res = subprocess.run(["git", "-C", str(repo), "rev-list", "--reverse", "--ancestry-path", f"{good}..{bad}"],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise UserInputError(f"git rev-list {good}..{bad} in {repo} failed: {res.stderr.strip()}",
                             hint="give full commit ids that the repository has, --good an ancestor of --bad")
    return [good, *res.stdout.split()]


def _ordered(good: str, bad: str, revisions: str | None, git_repo: Path | None) -> list[str]:
    from benchfarm.errors import UserInputError

    if revisions:
        order = [r.strip() for r in revisions.split(",") if r.strip()]
    elif git_repo:
        order = _git_revisions(git_repo, good, bad)
    else:
        raise UserInputError("the order of the revisions is unknown", hint="give --revisions r1,r2,... or --git-repo")
    if good not in order or bad not in order or order.index(good) >= order.index(bad):
        raise UserInputError(f"--good {good} must come before --bad {bad} in the revisions ({', '.join(order)})")
    return order[order.index(good):order.index(bad) + 1]


def bisect(
    spec_file: Annotated[Path, typer.Argument(help="Job spec; its image names the repository bisected.",
                                              exists=True, dir_okay=False)],
    good: Annotated[str, typer.Option("--good", help="A revision without the regression.")],
    bad: Annotated[str, typer.Option("--bad", help="A later revision with it.")],
    revisions: Annotated[str | None, typer.Option(help="All revisions in order, comma-separated.")] = None,
    git_repo: Annotated[Path | None, typer.Option("--git-repo", help="Order the revisions by this git "
                                                  "repository's history (good..bad).")] = None,
    metric: Annotated[str | None, typer.Option(help="Metric to bisect (default: the spec's first).")] = None,
    min_reps: Annotated[int, typer.Option(help="Repetitions a revision gets first.")] = 5,
    step_reps: Annotated[int, typer.Option(help="Repetitions added when a step is undecided.")] = 5,
    max_reps: Annotated[int, typer.Option(help="The most repetitions of one revision.")] = 20,
    restart: Annotated[bool, typer.Option("--restart", help="Forget the saved state of this bisection "
                                          "(finished jobs are still reused).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    images: Annotated[ImageSource, typer.Option(
        "--images",
        help="Where the revisions' images are found by their OCI revision label: every tag of the spec's "
             "repository in the farm registry (pulled by digest where a job runs), or the images on this "
             "machine's engine.")] = ImageSource.REGISTRY,
) -> None:
    """Find the first revision between --good and --bad whose image makes METRIC worse.

    Exit codes: 0 found; 2 bad arguments, no image for a revision, or the ends do not differ; 4 a service
    cannot be reached; 5 a benchmark job failed; 1 a revision stayed undecided.
    """
    from benchfarm.bisect.model import BisectState, bisect_id
    from benchfarm.bisect.runner import Bisector, registry_revision_images, revision_images
    from benchfarm.bisect.sources import RedisState, RepositoryResults
    from benchfarm.cli.farm import farm
    from benchfarm.errors import UserInputError
    from benchfarm.spec.loader import load_spec_file

    spec = load_spec_file(spec_file)
    metrics = spec.results.metrics
    name = metric or next(iter(metrics), None)
    if name is None or name not in metrics:
        raise UserInputError(f"metric {name!r} is not in the spec's results", hint=f"metrics: {', '.join(metrics)}")
    order = _ordered(good, bad, revisions, git_repo)
    f = farm()
    store = RedisState(f.kv)
    bid = bisect_id(spec.name, name, order)
    state = None if restart else store.load(bid)
    if state is None:
        ref = spec.image.split("@", 1)[0]  # repo[:tag][@digest] -> repo
        repository = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
        if images is ImageSource.REGISTRY:
            name_there = repository.removeprefix(f"{f.registry.address}/")
            progress(f"finding the images of {len(order)} revisions of {name_there} in the farm registry")
            found = registry_revision_images(f.registry, name_there, order)
        else:
            progress(f"finding the images of {len(order)} revisions of {repository} on this engine")
            found = revision_images(f.images, repository, order)
        state = BisectState(id=bid, spec=spec.model_dump(mode="json"), metric=name,
                            direction=str(metrics[name].direction.value), revisions=found)
        store.save(state)
    else:
        progress(f"resuming {bid} ({len(state.jobs_submitted)} jobs submitted so far)")
    submitted_before = len(state.jobs_submitted)
    bisector = Bisector(ApiJobs(f.api_client), RepositoryResults(f.repository), store, min_reps=min_reps,
                        step_reps=step_reps, max_reps=max_reps, progress=progress)
    state = bisector.run(state)
    result = {"bisect_id": state.id, "first_bad": state.first_bad, "last_good": state.last_good,
              "metric": state.metric, "steps": [s.model_dump() for s in state.steps],
              "jobs_submitted": state.jobs_submitted[submitted_before:], "jobs_submitted_total": len(
                  state.jobs_submitted)}
    if as_json:
        print_json(result)
        return
    out.print(f"first bad revision: [bold]{state.first_bad}[/bold] (last good: {state.last_good}), "
              f"{len(state.steps)} steps", highlight=False)
    for i, s in enumerate(state.steps, 1):
        out.print(f"  step {i}: {s.revision} {s.side}: median {s.median:.6g} over {s.n} repetitions, "
                  f"{(s.position or 0):.0%} of the way from good to bad, p={_p(s.p_vs_good)} vs good, "
                  f"p={_p(s.p_vs_bad)} vs bad", highlight=False)


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def register(app: typer.Typer) -> None:
    app.command("bisect")(bisect)
