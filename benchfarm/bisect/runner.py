"""The bisection loop: measure the ends, then halve the range, adding repetitions where a step is undecided.

Why it resumes and reuses by construction: a revision's values are read from every finished job of the
same spec name on the same image digest (:class:`EarlierResults`), so results of earlier bisections, and
of this one before an interruption, count without being stored twice. The state in Redis only holds what
cannot be read back that way: the jobs submitted but not yet read (``pending``), so a rerun waits for them
instead of submitting again. The judgements are deterministic given the values (seeded tests), so a
resumed run walks the same path and submits nothing for revisions already measured.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from benchfarm.bisect.decide import ends_differ, judge
from benchfarm.bisect.model import BISECT_LABEL, REVISION_LABEL, BisectState, RevisionImage, Step
from benchfarm.errors import BenchfarmError, BenchmarkFailedError, NotFoundError, UserInputError
from benchfarm.jobs.model import JobRecord, JobStatus


class JobRunner(Protocol):
    """Submits a job spec and waits for it (the API client in the CLI)."""

    def submit(self, spec: dict[str, Any]) -> str: ...
    def wait(self, job_id: str) -> JobRecord: ...


class EarlierResults(Protocol):
    """Values of ``metric`` from every succeeded job named ``spec_name`` that ran image ``digest``."""

    def values(self, spec_name: str, digest: str, metric: str) -> list[float]: ...


class StateStore(Protocol):
    def load(self, bisect_id: str) -> BisectState | None: ...
    def save(self, state: BisectState) -> None: ...


class ImageLister(Protocol):
    """Images carrying a label (benchfarm.adapters.docker_images.DockerImages.list)."""

    def list(self, label: str | None = None) -> list[Any]: ...


def revision_images(images: ImageLister, repository: str, revisions: list[str]) -> list[RevisionImage]:
    """The image of each revision: an image of ``repository`` labelled ``org.opencontainers.image.revision``.

    Raises:
        NotFoundError: a revision has no such image.
    """
    from benchfarm.images.labels import REVISION

    out = []
    for rev in revisions:
        found = [(tag, i) for i in images.list(label=f"{REVISION}={rev}") for tag in i.tags
                 if tag.rsplit(":", 1)[0] == repository]
        if not found:
            raise NotFoundError(f"no image of {repository} is labelled {REVISION}={rev}",
                                hint="build one per revision with that label (`benchfarm image build` sets it from "
                                     "git) and push or load it on this farm")
        tag, image = max(found, key=lambda f: f[1].created)  # a rebuild of the same revision: the newest
        out.append(RevisionImage(revision=rev, image_ref=tag, digest=image.id))
    return out


class RegistryReader(Protocol):
    """The farm registry's tags and image configs (benchfarm.adapters.registry_http.RegistryHttp)."""

    address: str

    def tags(self, name: str) -> list[str]: ...
    def manifest_digest_and_config(self, name: str, tag: str) -> tuple[str, dict[str, Any]]: ...


def registry_revision_images(registry: RegistryReader, name: str, revisions: list[str]) -> list[RevisionImage]:
    """The image of each revision among the tags of ``name`` in the farm registry, by its revision label.

    Jobs name each image by its manifest digest (``<registry>/<name>@sha256:...``), which any host pulls;
    results are matched by the config digest, the image id every engine gives the image.

    Raises:
        NotFoundError: a revision has no image there.
    """
    from benchfarm.images.labels import REVISION

    found: dict[str, tuple[str, str, str]] = {}  # revision -> (created, manifest digest, config digest)
    for tag in registry.tags(name):
        digest, config = registry.manifest_digest_and_config(name, tag)
        rev = config["labels"].get(REVISION)
        if rev in revisions and (rev not in found or config["created"] > found[rev][0]):
            found[rev] = (config["created"], digest, config["id"])  # a rebuild of the same revision: the newest
    missing = [r for r in revisions if r not in found]
    if missing:
        raise NotFoundError(f"no image of {name} in the farm registry ({registry.address}) is labelled "
                            f"{REVISION}= {', '.join(missing)}",
                            hint="push one per revision (`benchfarm image push`), or bisect images only on "
                                 "this engine with --images engine")
    return [RevisionImage(revision=r, image_ref=f"{registry.address}/{name}@{found[r][1]}", digest=found[r][2])
            for r in revisions]


@dataclass
class Bisector:
    """Runs one bisection to its answer.

    Args:
        runner, results, store: see the protocols above.
        min_reps: repetitions a revision gets first.
        step_reps: repetitions added when a judgement is undecided.
        max_reps: the most a revision gets before the bisection gives up on it.
        alpha: significance level of the tests.
        progress: called with one line per event.
    """

    runner: JobRunner
    results: EarlierResults
    store: StateStore
    min_reps: int = 5
    step_reps: int = 5
    max_reps: int = 20
    alpha: float = 0.05
    progress: Callable[[str], None] = lambda _: None

    def run(self, state: BisectState) -> BisectState:
        """Bisect ``state.revisions`` (first good, last bad) and return the state with ``first_bad`` set.

        Raises:
            UserInputError: the ends do not differ after ``max_reps`` repetitions each.
            BenchfarmError: a middle revision stays undecided after ``max_reps``.
            BenchmarkFailedError: a job failed.
        """
        revs = state.revisions
        state.steps = []
        lo, hi = 0, len(revs) - 1
        good = self._measure(state, revs[lo], self.min_reps)
        bad = self._measure(state, revs[hi], self.min_reps)
        while True:
            differ, p = ends_differ(good, bad, state.direction, self.alpha)
            if differ:
                break
            if len(good) >= self.max_reps and len(bad) >= self.max_reps:
                raise UserInputError(
                    f"{revs[hi].revision} is not significantly worse than {revs[lo].revision} in {state.metric} "
                    f"(medians {statistics.median(good):.6g} and {statistics.median(bad):.6g}, p={p}, "
                    f"{len(good)} and {len(bad)} repetitions)",
                    hint="check --good and --bad, the metric and its direction")
            self.progress(f"the ends do not differ yet (p={p}): more repetitions of both")
            good = self._measure(state, revs[lo], len(good) + self.step_reps)
            bad = self._measure(state, revs[hi], len(bad) + self.step_reps)
        self.progress(f"{revs[lo].revision}: median {statistics.median(good):.6g}; {revs[hi].revision}: median "
                      f"{statistics.median(bad):.6g} (p={p})")
        while hi - lo > 1:
            mid = (lo + hi) // 2
            values = self._measure(state, revs[mid], self.min_reps)
            while True:
                j = judge(good, bad, values, state.direction, self.alpha)
                if j.side != "undecided":
                    break
                if len(values) >= self.max_reps:
                    raise BenchfarmError(
                        f"revision {revs[mid].revision} stays undecided after {len(values)} repetitions (median "
                        f"{statistics.median(values):.6g}, {j.position:.0%} of the way from good to bad, "
                        f"p={j.p_vs_good} against good, p={j.p_vs_bad} against bad)",
                        hint="the change may be spread over several revisions; raise --max-reps or bisect "
                             "a narrower range")
                self.progress(f"{revs[mid].revision} undecided ({j.position:.0%} of the way to bad): "
                              f"{self.step_reps} more repetitions")
                values = self._measure(state, revs[mid], len(values) + self.step_reps)
            state.steps.append(Step(revision=revs[mid].revision, side=j.side, n=len(values),
                                    median=statistics.median(values), position=j.position,
                                    p_vs_good=j.p_vs_good, p_vs_bad=j.p_vs_bad))
            self.progress(f"step {len(state.steps)}: {revs[mid].revision} is {j.side} (median "
                          f"{statistics.median(values):.6g}, n={len(values)})")
            if j.side == "bad":
                hi = mid
            else:
                lo = mid
        state.first_bad, state.last_good = revs[hi].revision, revs[lo].revision
        self.store.save(state)
        return state

    def _measure(self, state: BisectState, rev: RevisionImage, at_least: int) -> list[float]:
        """The revision's values, running jobs until there are ``at_least`` (a pending job is waited for first)."""
        name = str(state.spec.get("name", ""))
        if rev.revision in state.pending:
            self.progress(f"{rev.revision}: waiting for job {state.pending[rev.revision]} (submitted earlier)")
            self._wait(state, rev, state.pending[rev.revision])
        values = self.results.values(name, rev.digest, state.metric)
        while len(values) < at_least:
            reps = max(at_least - len(values), 2)
            spec = {**state.spec, "image": rev.image_ref, "repetitions": reps,
                    "labels": {**(state.spec.get("labels") or {}), BISECT_LABEL: state.id,
                               REVISION_LABEL: rev.revision}}
            job_id = self.runner.submit(spec)
            state.pending[rev.revision] = job_id
            state.jobs_submitted.append(job_id)
            self.store.save(state)
            self.progress(f"{rev.revision}: job {job_id}, {reps} repetitions ({len(values)} reused)")
            self._wait(state, rev, job_id)
            values = self.results.values(name, rev.digest, state.metric)
        return values

    def _wait(self, state: BisectState, rev: RevisionImage, job_id: str) -> None:
        job = self.runner.wait(job_id)
        state.pending.pop(rev.revision, None)
        self.store.save(state)
        if job.status != JobStatus.SUCCEEDED:
            raise BenchmarkFailedError(f"job {job_id} of revision {rev.revision} {job.status.value}: {job.reason}",
                                       hint=f"see `benchfarm jobs logs {job_id}`")
