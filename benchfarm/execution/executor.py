"""Executes one job on this host: claim, lock, run every repetition, record, publish.

Every write to the job after the claim goes through ``JobRepository.update_fenced``
with the attempt's :class:`~benchfarm.jobs.repository.Lease` and a closure named for
the change it makes; what the executor tracks between repetitions lives in a
:class:`RunState`.  The lease is renewed while the executor waits for a host slot,
pulls an image and while a container runs; the moment the repository says the lease
is lost (``LeaseLostError``: expired, or the job moved on without this attempt), the
executor stops the container, writes nothing more, publishes nothing and deletes the
attempt's results directory. The clock and the engine are handed in, so the whole path
runs in unit tests against a fake engine and a fake clock.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

from benchfarm.analysis.adaptive import CvTarget, PowerTarget, StopRule, adaptive_state
from benchfarm.analysis.baselines import hardware_class
from benchfarm.clock import SYSTEM_CLOCK, Clock
from benchfarm.errors import BenchfarmError, LeaseLostError, NotFoundError, RegistryError
from benchfarm.jobs.model import MAX_LOG_BYTES, EventType, JobRecord, JobStatus, RepetitionRecord
from benchfarm.jobs.repository import JobRepository, Lease
from benchfarm.power.table import load_power_table
from benchfarm.runner.container_spec import build_container_spec
from benchfarm.runner.engine import Engine
from benchfarm.runner.host_lock import host_slot
from benchfarm.runner.runner import ContainerRunner, RunOutcome
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.spec.model import JobSpec
from benchfarm.spec.results import parse_results

log = logging.getLogger(__name__)


class TelemetrySession(Protocol):
    """Collectors attached to one running container (see benchfarm.collectors)."""

    def stop(self) -> TelemetryReport: ...


@dataclass
class TelemetryReport:
    sampler_cpu_seconds: float | None = None
    container_cpu_seconds: float | None = None
    partial: bool = False
    warning: str | None = None
    samples_taken: int | None = None


TelemetryFactory = Callable[[JobRecord, int, str, str | None], TelemetrySession]


class ResultPublisher(Protocol):
    """Where finished repetitions and jobs are published for search (the Elasticsearch store)."""

    def repetition(self, job: JobRecord, rep: RepetitionRecord) -> None: ...
    def job(self, job: JobRecord) -> None: ...


@dataclass
class ExecutorConfig:
    worker_id: str
    lock_dir: Path
    results_root: Path
    lease_s: float = 30.0
    renew_every_s: float = 5.0
    max_attempts: int = 2
    slot_timeout_s: float | None = 3600.0  # the longest a claimed job waits for a host slot (None: no limit)


class LeaseKeeper:
    """Keeps one attempt's lease alive while the executor waits for a slot, pulls an image or a container runs.

    Args:
        repo: the job records.
        lease: the attempt's fencing token, from the claim.
        lease_s: how long each renewal extends the lease.
        every_s: the least time between renewals in :meth:`renew_when_due`.
        clock: where that time is read.
    Raises (from both methods):
        LeaseLostError: the attempt no longer holds the job.
    """

    def __init__(self, repo: JobRepository, lease: Lease, lease_s: float, every_s: float, clock: Clock) -> None:
        self.repo = repo
        self.lease = lease
        self.lease_s = lease_s
        self.every_s = every_s
        self.clock = clock
        self.cancel_requested = False
        self._renewed_at = clock.monotonic()  # the claim just set the lease

    def renew(self) -> bool:
        """Renew now; returns whether a cancel was requested (also kept in ``cancel_requested``)."""
        self.cancel_requested = self.repo.renew_lease(self.lease, self.lease_s)
        self._renewed_at = self.clock.monotonic()
        return self.cancel_requested

    def renew_when_due(self) -> None:
        """Renew when ``every_s`` passed since the last renewal (the runner polls this while a container runs)."""
        if self.clock.monotonic() - self._renewed_at >= self.every_s:
            self.renew()


@dataclass
class RunState:
    """What the executor tracks while one job's repetitions run."""

    shared_container: str | None = None  # the one container of a job that opted out of fresh ones
    telemetry: TelemetrySession | None = None  # the collectors attached to the running repetition
    measured_values: dict[str, list[float]] = field(default_factory=dict)  # per metric, for adaptive repetitions
    converged: bool | None = None  # adaptive repetitions only
    # repetitions recorded in Redis whose results document is not written yet: written before the next
    # repetition starts, and the last one after the job's final state (not between the run and ``finished``)
    unpublished: list[tuple[JobRecord, RepetitionRecord]] = field(default_factory=list)


def stop_rule(spec: JobSpec) -> StopRule:
    """The rule of the spec's ``adaptive`` section (which has one of target_cv and detect_change_pct)."""
    a = spec.adaptive
    assert a is not None
    if a.detect_change_pct is not None:
        return PowerTarget(load_power_table(), a.detect_change_pct, spec.threshold_pct, a.power)
    assert a.target_cv is not None
    return CvTarget(a.target_cv)


class JobExecutor:
    """Runs claimed jobs; safe to call twice for the same id (the second call does nothing)."""

    def __init__(
        self,
        repo: JobRepository,
        engine: Engine,
        caps: HostCapabilities,
        config: ExecutorConfig,
        *,
        telemetry: TelemetryFactory | None = None,
        publisher: ResultPublisher | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.repo = repo
        self.engine = engine
        self.clock = clock
        self.runner = ContainerRunner(engine, clock=clock)
        self.caps = caps
        self.config = config
        self.telemetry = telemetry
        self.publisher = publisher

    def execute(self, job_id: str) -> JobRecord | None:
        """Run the job if this delivery may; returns the final record, or None if it was not ours to run
        (not claimed, or this attempt lost its lease on the way: then nothing of it was kept)."""
        job = self.repo.claim(job_id, self.config.worker_id, self.caps.host_id, self.config.lease_s,
                              self.config.max_attempts)
        if job is None:
            log.info("job %s: not claimed (already final, cancelled or running elsewhere)", job_id)
            return None
        lease = Lease.of(job)
        keeper = LeaseKeeper(self.repo, lease, self.config.lease_s, self.config.renew_every_s, self.clock)
        state = RunState()
        try:
            self._run_to_the_end(job, lease, keeper, state)
        except LeaseLostError as exc:
            log.warning("%s; its container is stopped and its results are discarded", exc.message)
            shutil.rmtree(self._attempt_dir(lease), ignore_errors=True)
            return None
        final = self.repo.get(job_id)
        self._publish_repetitions(state)
        if self.publisher:
            try:
                self.publisher.job(final)
            except Exception:
                log.warning("publishing job %s failed; the store spools it", job_id, exc_info=True)
        return final

    def _publish_repetitions(self, state: RunState) -> None:
        """Write the results documents of the repetitions recorded since the last call."""
        pending, state.unpublished = state.unpublished, []
        if not self.publisher:
            return
        for job, rep in pending:
            try:
                self.publisher.repetition(job, rep)
            except Exception:
                log.warning("publishing a repetition of %s failed", job.id, exc_info=True)

    # --------------------------------------------------------------------------
    def _run_to_the_end(self, job: JobRecord, lease: Lease, keeper: LeaseKeeper, state: RunState) -> None:
        """Run the job in a host slot and record its final state; a failure of the run fails the job.

        Raises:
            LeaseLostError: the attempt lost the job (nothing more was written).
        """
        try:
            with host_slot(self.config.lock_dir, self.caps.max_concurrent_jobs, clock=self.clock,
                           timeout_s=self.config.slot_timeout_s, on_wait=keeper.renew_when_due):
                self._run_all(job, lease, keeper, state)
        except LeaseLostError:
            raise
        except BenchfarmError as exc:
            self._finish(lease, JobStatus.FAILED, exc.message)
        except Exception as exc:  # never leave a job 'running' because of a bug
            log.exception("job %s crashed the executor", job.id)
            self._finish(lease, JobStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}")

    def _attempt_dir(self, lease: Lease) -> Path:
        """Where this attempt's containers write their results (one directory per attempt: a stale attempt
        still running on this host never mixes its files with, nor deletes, a later attempt's)."""
        return self.config.results_root / lease.job_id / f"attempt{lease.attempt}"

    def _run_all(self, job: JobRecord, lease: Lease, keeper: LeaseKeeper, state: RunState) -> None:
        spec = JobSpec.model_validate(job.spec)
        self._ensure_image(job, keeper)
        try:
            self._repetitions(job, spec, state, lease, keeper)
        finally:
            if state.telemetry is not None:  # a repetition broke off with its collectors attached
                self._stop_telemetry(state.telemetry)
            if state.shared_container is not None:
                self.engine.remove(state.shared_container)

    def _ensure_image(self, job: JobRecord, keeper: LeaseKeeper) -> None:
        """Make sure the job's image is on this host's engine: pulled from the farm registry when it is not.

        The image was pinned at submit on the API's machine (``image_digest``, the image id); a
        host that is not that machine (a node, a remote pool host) pulls ``image_pull_ref``
        (``<registry>/<name>@sha256:...``) and checks it got the same image. The lease is
        renewed while the pull runs, so a slow pull is not taken for a lost worker.

        Raises:
            NotFoundError: the image is not here and the job has no pull reference.
            RegistryError: the pull failed, or brought another image than the one pinned.
        """
        image = job.image_digest or job.image_ref
        if self.engine.has_image(image):
            return
        if not job.image_pull_ref:
            raise NotFoundError(f"image {image} is not on host {self.caps.host_id} and the job names no registry "
                                "reference to pull it from",
                                hint="push the image to the farm registry (`benchfarm image push`) and submit again")
        log.info("job %s: pulling %s", job.id, job.image_pull_ref)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-pull") as pool:
            pulling = pool.submit(self.engine.pull_image, job.image_pull_ref)
            while True:
                try:
                    pulled = pulling.result(timeout=self.config.renew_every_s)
                    break
                except TimeoutError:
                    keeper.renew()
        if job.image_digest and pulled != job.image_digest:
            raise RegistryError(f"{job.image_pull_ref} is image {pulled[:19]} here, not {job.image_digest[:19]} "
                                "pinned at submit", hint="the registry holds another image under that digest; "
                                                         "push the image again and resubmit")

    def _repetitions(self, job: JobRecord, spec: JobSpec, state: RunState, lease: Lease,
                     keeper: LeaseKeeper) -> None:
        image = job.image_digest or job.image_ref
        total = spec.warmup + spec.measured_repetitions_max
        rule = stop_rule(spec) if spec.adaptive else None

        for index in range(total):
            warmup = index < spec.warmup
            self._publish_repetitions(state)
            if keeper.renew():
                self._end(state, lease, JobStatus.CANCELLED, "cancelled by request")
                return
            fresh = spec.fresh_container_per_repetition
            results_dir = self._attempt_dir(lease) / (f"r{index}" if fresh else "shared")
            cs = build_container_spec(spec, job_id=job.id, image=image, repetition=index if fresh else 0,
                                      warmup=warmup, caps=self.caps, results_dir=results_dir)
            if not fresh:
                cs.name = f"bf-{job.id}-shared"
            outcome = self.runner.run(
                cs, timeout_s=spec.timeout_s, should_cancel=lambda: keeper.cancel_requested,
                on_started=partial(self._container_started, job, state, index=index, cpuset=cs.cpuset, fresh=fresh),
                on_poll=keeper.renew_when_due, keep_container=not fresh, reuse=state.shared_container,
            )
            mark = self.clock.monotonic()
            report = self._stop_telemetry(state.telemetry)
            state.telemetry = None
            rep = self._record(index, warmup, outcome, report)
            rep.phases["collectors_stop"] = round(self.clock.monotonic() - mark, 6)
            failure = self._failure_reason(outcome)
            if failure is None:
                mark = self.clock.monotonic()
                try:
                    rep.metrics = parse_results(spec, outcome.stdout, outcome.result_files)
                except BenchfarmError as exc:
                    failure = f"results: {exc.message}{self._cut_note(outcome)}"
                    rep.error = failure
                rep.phases["parse"] = round(self.clock.monotonic() - mark, 6)
            state.unpublished.append((self._append(lease, rep, report), rep))
            if outcome.cancelled:
                self._end(state, lease, JobStatus.CANCELLED, "cancelled by request")
                return
            if failure is not None:
                self._end(state, lease, JobStatus.FAILED, failure)
                return
            if spec.adaptive and rule and not warmup:
                for name, value in rep.metrics.items():
                    state.measured_values.setdefault(name, []).append(value)
                a = spec.adaptive
                step = adaptive_state(state.measured_values, rule=rule, min_n=a.min_repetitions,
                                      max_n=a.max_repetitions, measured=index + 1 - spec.warmup)
                state.converged = step.converged
                if not step.should_continue:
                    break
        self._end(state, lease, JobStatus.SUCCEEDED, None, run_shape=self._run_shape(state.converged))

    def _end(self, state: RunState, lease: Lease, status: JobStatus, reason: str | None,
             run_shape: Callable[[JobRecord], None] | None = None) -> None:
        """Remove the job's shared container (when it kept one), then write the final state: whoever sees the
        job final finds nothing of it left running or lying on the host."""
        if state.shared_container is not None:
            self.engine.remove(state.shared_container)
            state.shared_container = None
        self._finish(lease, status, reason, run_shape=run_shape)

    def _container_started(self, job: JobRecord, state: RunState, container_id: str, *, index: int,
                           cpuset: str | None, fresh: bool) -> None:
        """The runner's ``on_started``: remember a shared container and attach the collectors."""
        if not fresh:
            state.shared_container = container_id
        if self.telemetry:
            try:
                state.telemetry = self.telemetry(job, index, container_id, cpuset)
            except Exception:
                log.warning("telemetry failed to start for %s", job.id, exc_info=True)

    def _run_shape(self, converged: bool | None) -> Callable[[JobRecord], None]:
        """Sets how many measured repetitions ran, adaptive convergence and the hardware class (written with
        the final status, in the same compare-and-set: one fsync'd write less on every job's path)."""
        hw = hardware_class(self.caps)

        def set_run_shape(job: JobRecord) -> None:
            job.repetitions_run = len(job.measured())
            job.adaptive_converged = converged
            job.hardware_class = hw

        return set_run_shape

    @staticmethod
    def _failure_reason(o: RunOutcome) -> str | None:
        if o.timed_out:
            return "timeout"
        if o.cancelled:
            return None
        if o.oom_killed:
            return "oom-killed"
        if o.exit_code != 0:
            return f"exit code {o.exit_code}"
        return None

    def _cut_note(self, o: RunOutcome) -> str:
        """What the runner cut of the repetition's output, to say after a results error ('' when nothing)."""
        notes = []
        if o.result_files_cut:
            limit = self.runner.results_limit_bytes
            cap = f"{limit / (1024 * 1024):g} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"
            notes.append(f"results files cut at the {cap} cap: {', '.join(o.result_files_cut)}")
        if o.logs_truncated:
            notes.append(f"the logs kept in the record are only their last {MAX_LOG_BYTES // 1024} KiB")
        return f" ({'; '.join(notes)})" if notes else ""

    @staticmethod
    def _record(index: int, warmup: bool, o: RunOutcome, report: TelemetryReport) -> RepetitionRecord:
        return RepetitionRecord(
            index=index, warmup=warmup, container_id=o.container_id, created_at=o.created_at,
            started_at=o.started_at, finished_at=o.finished_at, exit_code=o.exit_code, oom_killed=o.oom_killed,
            timed_out=o.timed_out, logs=o.logs, logs_truncated=o.logs_truncated, results_cut=list(o.result_files_cut),
            sampler_cpu_seconds=report.sampler_cpu_seconds, container_cpu_seconds=report.container_cpu_seconds,
            samples_taken=report.samples_taken, phases=dict(o.phases),
        )

    @staticmethod
    def _stop_telemetry(session: TelemetrySession | None) -> TelemetryReport:
        if session is None:
            return TelemetryReport()
        try:
            return session.stop()
        except Exception as exc:
            log.warning("telemetry failed to stop cleanly", exc_info=True)
            return TelemetryReport(partial=True, warning=f"telemetry failed: {exc}")

    def _append(self, lease: Lease, rep: RepetitionRecord, report: TelemetryReport) -> JobRecord:
        """Record the repetition in the job (fenced) and emit its event; returns the record as written."""

        def append_repetition(job: JobRecord) -> JobRecord:
            job.repetitions.append(rep)
            if report.partial:
                job.metrics_partial = True
            if report.warning and report.warning not in job.warnings:
                job.warnings.append(report.warning)
            if rep.results_cut:
                job.warnings.append(f"repetition {rep.index}: results files cut at the runner's cap: "
                                    + ", ".join(rep.results_cut))
            return job

        def finished_event(job: JobRecord, _: object) -> tuple[EventType, dict[str, object]]:
            return EventType.REPETITION_FINISHED, {
                "index": rep.index, "warmup": rep.warmup, "exit_code": rep.exit_code, "metrics": rep.metrics,
                "done": len(job.measured()), "of": job.planned_repetitions,
            }

        job, _ = self.repo.update_fenced(lease, append_repetition, finished_event)  # the event in the same write
        return job

    def _finish(self, lease: Lease, status: JobStatus, reason: str | None,
                run_shape: Callable[[JobRecord], None] | None = None) -> None:
        finished_at = self.clock.utcnow()

        def mark_final(job: JobRecord) -> None:
            if run_shape is not None:
                run_shape(job)
            job.status = status
            job.reason = reason
            job.finished_at = finished_at
            job.lease_until = None

        event = {JobStatus.SUCCEEDED: EventType.FINISHED, JobStatus.FAILED: EventType.FAILED,
                 JobStatus.CANCELLED: EventType.CANCELLED}[status]
        data: dict[str, object] = {"reason": reason} if reason else {}
        self.repo.update_fenced(lease, mark_final, lambda _job, _result: (event, data))  # the event in the same write
