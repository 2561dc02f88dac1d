"""Run a baseline and a candidate image in alternating short jobs, then give the farm's verdict on them.

Why: a verdict of one candidate job against one stored baseline job cannot tell a slowdown from the
machine's drift between the two jobs. Measured here (`bench/verdict_power.py`, README "Verdict power"),
that drift was 1.6-1.9% between back-to-back jobs of the same image, as large as the within-job noise
of ten repetitions is small, so a 3% threshold raised 8.5-13.5% false alarms and a 5% one caught a 5%
slowdown only half the time. Alternating short jobs in the order A B B A A B B A... (Chromium's
Pinpoint runs its A/B "try jobs" the same way) makes both sides sample the same machine states: a drift
that is linear over four jobs cancels within each group, and what remains is noise between values that
the rank test already models. Every job of one side ran the same spec and image, so the values pool.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from benchfarm.analysis.adaptive import PowerTarget
from benchfarm.analysis.compare import Comparison, compare_jobs
from benchfarm.analysis.job_compare import measured_values, spec_thresholds
from benchfarm.errors import BenchmarkFailedError, UserInputError
from benchfarm.jobs.model import JobRecord, JobStatus
from benchfarm.power.table import DEFAULT_POWER, load_power_table

Side = Literal["baseline", "candidate"]
#: Label on every job of an interleaved comparison (its id), and the side the job ran.
AB_LABEL = "benchfarm_ab"
SIDE_LABEL = "benchfarm_ab_side"
#: Default pairs of jobs: the repetition budget the farm's power goal names (a 5% slowdown caught with at most
#: 10 repetitions a side). What it buys depends on the benchmark's noise: README, "Verdict power", has the
#: table per count (`bench/verdict_power.py --interleaved`); ``detect_pct`` lets the power table choose.
DEFAULT_PAIRS = 10
#: Threshold of an interleaved verdict where the spec sets none: the drift it no longer has to absorb
#: lets it sit below the 5% that single-job verdicts need (the power table shows both).
DEFAULT_AB_MAX_REGRESSION_PCT = 3.0
#: With ``detect_pct``: the most jobs a side gets while the power table asks for more.
DEFAULT_MAX_PAIRS = 30


class JobRunner(Protocol):
    """Submits a job spec and waits for its final record (the API client in the CLI)."""

    def submit(self, spec: dict[str, Any]) -> str: ...
    def wait(self, job_id: str) -> JobRecord: ...


def abba_order(pairs: int) -> list[Side]:
    """``pairs`` baseline and ``pairs`` candidate slots: A B B A A B B A ...; every four cancel a linear drift."""
    if pairs < 1:
        raise UserInputError(f"--pairs must be at least 1 (got {pairs})")
    order: list[Side] = []
    for i in range(pairs):
        order += ["baseline", "candidate"] if i % 2 == 0 else ["candidate", "baseline"]
    return order


@dataclass
class InterleavedResult:
    """The verdict and the jobs behind it."""

    comparison: Comparison
    jobs: dict[Side, list[str]]
    hosts: list[str]
    values: dict[Side, dict[str, list[float]]]
    warnings: list[str] = field(default_factory=list)
    power: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.comparison.to_dict(), "jobs": self.jobs, "hosts": self.hosts, "warnings": self.warnings,
                **({"power": self.power} if self.power is not None else {})}


@dataclass
class InterleavedComparison:
    """Runs one interleaved comparison to its verdict.

    Args:
        runner: submits and waits (one job at a time, so the two sides never share the machine).
        progress: called with one line per job.
    """

    runner: JobRunner
    progress: Callable[[str], None] = lambda _: None

    def run(self, spec: dict[str, Any], baseline_image: str, *, pairs: int = DEFAULT_PAIRS,
            reps_per_job: int = 1, threshold_pct: float | None = None, ab_id: str = "ab",
            seed: int = 0, detect_pct: float | None = None, max_pairs: int = DEFAULT_MAX_PAIRS,
            power: float = DEFAULT_POWER) -> InterleavedResult:
        """Alternate jobs of ``spec`` with ``baseline_image`` and with its own image; compare the pooled values.

        ``threshold_pct`` replaces the spec's ``max_regression_pct`` (its ``per_metric`` limits still hold).
        ``detect_pct``: ``pairs`` is the least; after every A B B A block the power table
        (:mod:`benchfarm.power.table`) decides, from each side's noise so far, whether the values catch a
        change of ``detect_pct`` in ``power`` of comparisons at each metric's threshold; else another block,
        up to ``max_pairs`` jobs a side.

        Raises:
            UserInputError: no metric with a direction, or a bad count.
            BenchmarkFailedError: a job did not succeed (the comparison stops: a failed side has no values).
        """
        metric_specs, max_pct, per_metric = spec_thresholds(spec)
        if not any(isinstance(m, dict) and m.get("direction") for m in metric_specs.values()):
            raise UserInputError("the spec's results declare no metric with a direction: nothing to compare",
                                 hint="give each metric `direction: higher` or `direction: lower`")
        if reps_per_job < 1:
            raise UserInputError(f"--reps-per-job must be at least 1 (got {reps_per_job})")
        if threshold_pct is not None:
            max_pct = threshold_pct
        rule = None
        if detect_pct is not None:
            if max_pairs < pairs:
                raise UserInputError(f"--max-pairs ({max_pairs}) is below --pairs ({pairs})")
            rule = PowerTarget(load_power_table(), detect_pct, lambda m: per_metric.get(m, max_pct), power)
            for name in metric_specs:
                rule.table.case(detect_pct, rule.threshold_pct(name))  # no row: refused before any job
        images: dict[Side, str] = {"baseline": baseline_image, "candidate": str(spec["image"])}
        jobs: dict[Side, list[str]] = {"baseline": [], "candidate": []}
        values: dict[Side, dict[str, list[float]]] = {"baseline": {}, "candidate": {}}
        hosts: list[str] = []
        classes: set[str] = set()
        order = abba_order(max_pairs if rule else pairs)
        needed: dict[str, int | None] = {}
        for i, side in enumerate(order, 1):
            labels = {**(spec.get("labels") or {}), AB_LABEL: ab_id, SIDE_LABEL: side}
            job_id = self.runner.submit({**spec, "image": images[side], "repetitions": reps_per_job,
                                         "labels": labels})
            jobs[side].append(job_id)
            job = self.runner.wait(job_id)
            if job.status != JobStatus.SUCCEEDED:
                raise BenchmarkFailedError(f"{side} job {job_id} {job.status.value}: {job.reason}",
                                           hint=f"see `benchfarm jobs logs {job_id}`")
            measured = measured_values(job)
            for name, vs in measured.items():
                values[side].setdefault(name, []).extend(vs)
            if job.host_id and job.host_id not in hosts:
                hosts.append(job.host_id)
            if job.hardware_class:
                classes.add(job.hardware_class)
            self.progress(f"{i}/{len(order)} {side:>9} {job_id} on {job.host_id}: " + ", ".join(
                f"{k}={statistics.median(v):.6g}" for k, v in sorted(measured.items())))
            if rule and i % 4 == 0 and i // 2 >= pairs:
                needed = _needed(rule, values)
                self.progress(f"after {i // 2} jobs a side the power table asks for " + ", ".join(
                    f"{k}: {'more than the table has' if n is None else n}" for k, n in sorted(needed.items())))
                if _enough(needed, values):
                    break
        comparison = compare_jobs(values["baseline"], values["candidate"], metric_specs, per_metric,
                                  default_max_regression_pct=max_pct, seed=seed)
        # A single-job verdict's regression waits for a re-run; here both sides were just run side by side,
        # which is what that re-run would check, so the verdict stands as it is.
        comparison = replace(comparison, metrics=[replace(m, needs_confirmation=False) for m in comparison.metrics])
        warnings = []
        power_doc = None
        if rule:
            needed = _needed(rule, values)
            enough = _enough(needed, values)
            power_doc = {"detect_pct": detect_pct, "power": power, "jobs_per_side": len(jobs["baseline"]),
                         "needed": needed, "enough": enough}
            if not enough:
                warnings.append(f"after {len(jobs['baseline'])} jobs a side (--max-pairs) the power table says a "
                                f"{detect_pct:g}% change may be missed: noise too high for the table "
                                "(see README, Verdict power)")
        if len(classes) > 1:
            warnings.append(f"the jobs ran on {len(classes)} hardware classes ({', '.join(sorted(classes))}): "
                            "pin them with requirements (a pool) so both sides share one")
        return InterleavedResult(comparison, jobs, hosts, values, warnings, power_doc)


def _enough(needed: dict[str, int | None], values: dict[Side, dict[str, list[float]]]) -> bool:
    """Every metric has the values the table asks for, on both sides."""
    return bool(needed) and all(n is not None and n <= len(values[side][name]) for name, n in needed.items()
                                for side in ("baseline", "candidate"))


def _needed(rule: PowerTarget, values: dict[Side, dict[str, list[float]]]) -> dict[str, int | None]:
    """Per metric, the values a side needs at the noisier side's noise (None: more than the table has)."""
    out: dict[str, int | None] = {}
    for name in values["baseline"].keys() & values["candidate"].keys():
        counts = [rule.needed(name, values[s][name]) for s in ("baseline", "candidate")]
        out[name] = None if None in counts else max(c for c in counts if c is not None)
    return out
