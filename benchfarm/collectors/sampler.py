"""The per-job sampler: reads collectors on a fixed monotonic schedule, buffers, ships in bulk.

Thread, not subprocess — why:

* On Linux niceness and CPU affinity are per *thread* (each thread is a
  kernel task), so the sampler thread really runs niced and pinned to a spare
  CPU (``setpriority(PRIO_PROCESS, tid)``, ``sched_setaffinity(0)`` from inside
  the thread) without touching the worker's other threads.
* Its CPU time is exact and readable live through the thread's CPU clock
  (``pthread_getcpuclockid``), so the overhead the job suffered is measured,
  not estimated; shipping done on the caller's thread is added to it.
* No pickling or fork of a multi-threaded worker: collectors and the sink are
  ordinary objects (the Elasticsearch sink keeps its connection pool), and the
  buffer stays reachable by the owner even if the sampling loop dies, so
  samples already taken are never lost with it.
* The job itself runs in a container, not in this process, so the GIL is not
  shared with the benchmark; the worker's main thread mostly waits.

The cost: an outside ``kill -9`` of only the sampler is impossible; a dead
loop (an unexpected error) shows as ``alive == False`` / ``partial == True``
and :meth:`Sampler.abort` stops it the hard way (no final flush) for fault tests.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Self

from benchfarm.clock import SYSTEM_CLOCK, Clock
from benchfarm.collectors.base import Collector, Sample, SampleSink

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.1
MAX_CONSECUTIVE_ERRORS = 3  # a collector failing this many samples in a row is dropped for the rest of the job


def choose_sampler_cpu(job_cpuset: Iterable[int] | None, host_cpus: Iterable[int] | None = None) -> int | None:
    """A CPU for the sampler outside the job's cpuset, or None when the job has no cpuset or none is spare.

    The lowest-numbered spare CPU is chosen: CPU 0 is where hosts usually keep housekeeping work.

    Args:
        job_cpuset: CPUs the job's container is pinned to (None or empty: it may use every CPU).
        host_cpus: CPUs this process may use (default: its current affinity).
    """
    if not job_cpuset:
        return None
    cpus = set(host_cpus) if host_cpus is not None else os.sched_getaffinity(0)
    spare = sorted(cpus - set(job_cpuset))
    return spare[0] if spare else None


class Sampler:
    """Samples ``collectors`` every ``interval_s`` in a background thread and ships batches to ``sink``.

    Batches ship when ``batch_interval_s`` has passed, when ``max_buffer`` samples are waiting, and at
    :meth:`flush`/:meth:`stop`.  With ``ship_between_repetitions_only`` nothing ships while a repetition
    runs: samples wait for :meth:`mark_repetition_boundary` or :meth:`stop` (the buffer may then exceed
    ``max_buffer``; a warning is logged once).  When the sink raises, the batch goes back to the front
    of the buffer and is retried at the next batch interval: no sample is dropped.

    Args:
        collectors: collectors to sample; unavailable ones are skipped (they log why once).
        sink: where batches go.
        interval_s: sampling period, at least 0.1 s.
        batch_interval_s: longest time samples wait before shipping.
        max_buffer: ship as soon as this many samples wait.
        ship_between_repetitions_only: hold samples until a repetition boundary or stop.
        cpu_affinity: CPUs the sampler thread may run on (e.g. ``{choose_sampler_cpu(...)}``); None: unchanged.
        nice: niceness of the sampler thread (it is only ever raised, never lowered).
        job_id, host_id, repetition, attempt: stamped into every sample (the attempt tells a re-run's
            samples from those of the attempt it replaced).
        clock: the schedule's monotonic clock and the samples' wall-clock timestamps (default: the system
            clock). A tick is taken once this clock reaches it (the loop waits on its stop event in between,
            so a fake clock that stands still means no ticks); CPU time is always the real thread's.
    Raises:
        ValueError: interval_s below 0.1 s, or a non-positive batch interval or buffer size.
    """

    def __init__(
        self,
        collectors: Sequence[Collector],
        sink: SampleSink,
        *,
        interval_s: float = 1.0,
        batch_interval_s: float = 10.0,
        max_buffer: int = 5000,
        ship_between_repetitions_only: bool = False,
        cpu_affinity: set[int] | None = None,
        nice: int = 10,
        job_id: str = "",
        host_id: str = "",
        repetition: int = 0,
        attempt: int = 0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if interval_s < MIN_INTERVAL_S:
            raise ValueError(f"interval_s must be at least {MIN_INTERVAL_S} s, got {interval_s}")
        if batch_interval_s <= 0 or max_buffer <= 0:
            raise ValueError("batch_interval_s and max_buffer must be positive")
        self.collectors = list(collectors)
        self.sink = sink
        self.interval_s = interval_s
        self.batch_interval_s = batch_interval_s
        self.max_buffer = max_buffer
        self.ship_between_repetitions_only = ship_between_repetitions_only
        self.cpu_affinity = set(cpu_affinity) if cpu_affinity else None
        self.nice = nice
        self.job_id = job_id
        self.host_id = host_id
        self.repetition = repetition
        self.attempt = attempt
        self.clock = clock

        self.active: list[Collector] = []
        self.samples_taken = 0
        self.samples_shipped = 0
        self.ticks = 0
        self.peak_buffer = 0
        self.crash: BaseException | None = None
        self._buffer: list[Sample] = []
        self._buffer_lock = threading.Lock()
        self._ship_lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._aborted = False
        self._thread: threading.Thread | None = None
        self._thread_cpu_final: float | None = None
        self._foreign_cpu = 0.0  # shipping done on callers' threads
        self._wall0 = 0.0
        self._mono0 = 0.0
        self._next_ship = 0.0
        self._ship_failing = False
        self._overflow_warned = False

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the sampling thread; returns once collectors are probed and the clock is anchored."""
        if self._thread is not None:
            raise RuntimeError("a Sampler can be started once")
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.job_id or 'job'}", daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def stop(self, timeout_s: float = 30.0) -> int:
        """Stop sampling and ship what is buffered; returns how many samples the final flush shipped.

        Raises:
            Exception: whatever the sink raised; the samples stay buffered (:attr:`pending`) for a later flush.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        try:
            return self.flush()
        finally:
            for c in self.collectors:
                try:
                    c.close()
                except Exception:  # closing must not hide the flush result
                    log.debug("closing collector %s failed", c.name, exc_info=True)

    def abort(self) -> None:
        """Stop the loop at once without shipping (simulates the sampler dying).

        Buffered samples stay in :attr:`pending`.
        """
        self._aborted = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- shipping --------------------------------------------------------------------------------

    def flush(self) -> int:
        """Ship every buffered sample now (on the caller's thread); returns how many were shipped.

        Raises:
            Exception: whatever the sink raised; the samples are put back at the front of the buffer.
        """
        t0 = time.thread_time()
        try:
            return self._ship()
        finally:
            if threading.current_thread() is not self._thread:
                self._foreign_cpu += time.thread_time() - t0

    def mark_repetition_boundary(self, next_repetition: int | None = None) -> int:
        """Ship everything taken so far and stamp later samples with the next repetition number.

        Args:
            next_repetition: the repetition that starts now (default: the current one plus one).
        Raises:
            Exception: whatever the sink raised (samples stay buffered, the repetition still advances).
        """
        with self._buffer_lock:
            self.repetition = self.repetition + 1 if next_repetition is None else next_repetition
        return self.flush()

    def _ship(self) -> int:
        with self._ship_lock:
            with self._buffer_lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            try:
                self.sink.ship(batch)
            except BaseException:
                with self._buffer_lock:
                    self._buffer[:0] = batch
                raise
            self.samples_shipped += len(batch)
            return len(batch)

    # ---- the loop --------------------------------------------------------------------------------

    def _setup_thread(self) -> None:
        tid = threading.get_native_id()
        if self.cpu_affinity:
            try:
                os.sched_setaffinity(0, self.cpu_affinity)  # 0 = the calling thread on Linux
            except OSError as exc:
                log.warning("sampler could not pin itself to CPUs %s: %s", sorted(self.cpu_affinity), exc)
        try:
            current = os.getpriority(os.PRIO_PROCESS, tid)
            if self.nice > current:
                os.setpriority(os.PRIO_PROCESS, tid, self.nice)  # per-thread on Linux
        except OSError as exc:
            log.warning("sampler could not renice itself to %d: %s", self.nice, exc)

    def _run(self) -> None:
        try:
            self._setup_thread()
            self.active = [c for c in self.collectors if c.available()]
            self._mono0 = self.clock.monotonic()
            self._wall0 = self.clock.now()
            self._next_ship = self._mono0 + self.batch_interval_s
            self._ready.set()
            self._loop()
        except BaseException as exc:  # a dead loop must be visible, not silent
            self.crash = exc
            log.error("sampler for job %s died: %s", self.job_id, exc, exc_info=True)
        finally:
            self._ready.set()
            self._thread_cpu_final = time.thread_time()

    def _loop(self) -> None:
        interval = self.interval_s
        errors = {id(c): 0 for c in self.active}
        next_t = self._mono0 + interval  # collectors primed their rate baselines at probe time
        stop = self._stop
        while True:
            now = self.clock.monotonic()
            while next_t > now:  # the tick is due on the injected clock; a stop cuts the wait short
                if stop.wait(next_t - now):
                    return
                now = self.clock.monotonic()
            if stop.is_set():
                break
            ts = self._wall0 + (now - self._mono0)
            taken = []
            for c in self.active:
                try:
                    fields = c.sample()
                except Exception as exc:  # one bad collector must not stop the others
                    n = errors[id(c)] = errors[id(c)] + 1
                    if n == 1:
                        log.warning("collector %s failed: %s", c.name, exc)
                    if n >= MAX_CONSECUTIVE_ERRORS:
                        log.warning("collector %s dropped after %d failures in a row", c.name, n)
                        self.active = [a for a in self.active if a is not c]
                    continue
                errors[id(c)] = 0
                taken.append(Sample(ts, c.name, fields, self.job_id, self.repetition, self.host_id, self.attempt))
            with self._buffer_lock:
                self._buffer.extend(taken)
                size = len(self._buffer)
            self.samples_taken += len(taken)
            self.ticks += 1
            self.peak_buffer = max(self.peak_buffer, size)
            self._maybe_ship(now, size)
            next_t += interval
            if next_t <= now:  # fell behind (suspended, overloaded): skip the missed ticks, keep the grid
                next_t += interval * math.ceil((now - next_t) / interval + 1e-9)

    def _maybe_ship(self, now: float, size: int) -> None:
        if self.ship_between_repetitions_only:
            if size > self.max_buffer and not self._overflow_warned:
                self._overflow_warned = True
                log.warning("sampler holds %d samples for the repetition boundary (max_buffer %d)",
                            size, self.max_buffer)
            return
        due = now >= self._next_ship
        if not due and (size < self.max_buffer or self._ship_failing):
            return
        self._next_ship = now + self.batch_interval_s
        try:
            self._ship()
        except Exception as exc:  # the sink's failure is retried at the next batch interval
            if not self._ship_failing:
                log.warning("shipping samples failed (kept, will retry in %.0f s): %s", self.batch_interval_s, exc)
            self._ship_failing = True
        else:
            self._ship_failing = False

    # ---- state and overhead ----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Samples taken but not yet shipped."""
        with self._buffer_lock:
            return len(self._buffer)

    @property
    def alive(self) -> bool:
        """Whether the sampling loop is running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def partial(self) -> bool:
        """True when the job's metrics are incomplete: the loop died or was aborted, or samples are unshipped."""
        return self.crash is not None or self._aborted or (not self.alive and self.pending > 0)

    @property
    def cpu_seconds(self) -> float:
        """CPU time the sampler has used so far: its thread, plus shipping done on other threads."""
        if self._thread_cpu_final is not None:
            own = self._thread_cpu_final
        elif self._thread is not None and self._thread.ident is not None and self._thread.is_alive():
            try:
                own = time.clock_gettime(time.pthread_getcpuclockid(self._thread.ident))
            except (OSError, ProcessLookupError):  # the thread ended between the checks
                own = self._thread_cpu_final or 0.0
        else:
            own = 0.0
        return own + self._foreign_cpu

    @property
    def cpu_seconds_per_sample(self) -> float | None:
        """Mean CPU time per sample taken (None before the first sample)."""
        return self.cpu_seconds / self.samples_taken if self.samples_taken else None

    def overhead_ratio(self, job_cpu_seconds: float) -> float:
        """The sampler's CPU time as a fraction of the job's (inf when the job used none)."""
        if job_cpu_seconds <= 0:
            return math.inf if self.cpu_seconds > 0 else 0.0
        return self.cpu_seconds / job_cpu_seconds

    def telemetry_warning(self, job_cpu_seconds: float, threshold: float = 0.01) -> str | None:
        """A warning for the result when the sampler's CPU time exceeds ``threshold`` of the job's, else None."""
        ratio = self.overhead_ratio(job_cpu_seconds)
        if ratio <= threshold:
            return None
        return (f"telemetry may have skewed this result: the sampler used {self.cpu_seconds:.3f} s of CPU, "
                f"{ratio:.1%} of the job's {job_cpu_seconds:.3f} s (threshold {threshold:.1%})")
