"""The worker's job path to the store: collectors per container, results with the host's hardware,
and the asynchronous event mirror. Built by the composition root, which hands in the one writer."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from benchfarm.collectors.base import Collector
from benchfarm.collectors.gpu import NvmlReader
from benchfarm.errors import BenchfarmError
from benchfarm.execution.executor import TelemetryReport
from benchfarm.jobs.model import JobRecord
from benchfarm.scheduler.capabilities import HostCapabilities
from benchfarm.settings import Settings
from benchfarm.store.sinks import ResultSink
from benchfarm.store.writer import StoreWriter

log = logging.getLogger(__name__)


class _CountingSink:
    """Wraps the metric sink to remember the container's CPU seconds (for the overhead check)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.container_cpu_seconds: float | None = None

    def ship(self, samples: list[Any]) -> None:
        for s in samples:
            if s.collector == "cgroup" and "cpu_usage_seconds" in s.fields:
                v = float(s.fields["cpu_usage_seconds"])
                self.container_cpu_seconds = max(v, self.container_cpu_seconds or 0.0)
        self.inner.ship(samples)


class TelemetrySession:
    """A sampler attached to one running container."""

    def __init__(self, sampler: Any, sink: _CountingSink, threshold: float) -> None:
        self.sampler = sampler
        self.sink = sink
        self.threshold = threshold

    def stop(self) -> TelemetryReport:
        try:
            self.sampler.stop()
        except Exception as exc:  # the samples stay buffered/spooled; the run itself is fine
            log.warning("sampler stop: %s", exc)
        job_cpu = self.sink.container_cpu_seconds
        warning = self.sampler.telemetry_warning(job_cpu, threshold=self.threshold) if job_cpu else None
        return TelemetryReport(sampler_cpu_seconds=self.sampler.cpu_seconds, container_cpu_seconds=job_cpu,
                               partial=bool(self.sampler.partial), warning=warning,
                               samples_taken=self.sampler.samples_taken)


TelemetryFactory = Callable[[JobRecord, int, str, "str | None"], TelemetrySession]


def telemetry_factory(settings: Settings, writer: StoreWriter,
                      open_nvml: Callable[[], NvmlReader] | None = None,
                      container_pid: Callable[[str], int | None] | None = None) -> TelemetryFactory:
    """Builds a sampler (host, cgroup, GPU, FPGA collectors) for each repetition's container.

    Args:
        settings: sampling intervals and this host's id.
        writer: the process's store writer (samples are shipped through it).
        open_nvml: opens the NVML reader (the adapter's NvmlAdapter); None on hosts that never sample GPUs.
        container_pid: the engine's ``pid`` (a container's init process), so the cgroup collector finds the
            container's cgroup through ``/proc/<pid>/cgroup`` whatever the layout (a node's nested engine);
            None: it searches the known layouts only.
    """
    from benchfarm.collectors.cgroup import CgroupCollector
    from benchfarm.collectors.fpga import FpgaCollector
    from benchfarm.collectors.gpu import GpuCollector
    from benchfarm.collectors.host import HostCollector
    from benchfarm.collectors.sampler import Sampler, choose_sampler_cpu
    from benchfarm.spec.model import cpuset_cpus
    from benchfarm.store.sinks import MetricSink

    # A host's accelerators do not come and go between repetitions: probe the GPU and
    # FPGA collectors once per worker process (logging an absent one once), so no
    # container start pays for loading NVML or walking the PCI bus again.
    def new_gpu_collector() -> Collector:
        return GpuCollector(open_reader=open_nvml)

    accelerators: list[Callable[[], Collector]] = []
    for make in (new_gpu_collector, FpgaCollector):
        probe = make()
        if probe.available():
            accelerators.append(make)
        probe.close()

    def pid_of(container_id: str) -> int | None:
        if container_pid is None:
            return None
        try:
            return container_pid(container_id)
        except BenchfarmError as exc:  # gone already, or the engine blinked: the collector searches instead
            log.debug("no pid for container %s: %s", container_id[:12], exc.message)
            return None

    def start(job: JobRecord, repetition: int, container_id: str, cpuset: str | None) -> TelemetrySession:
        job_cpus = set(cpuset_cpus(cpuset)) if cpuset else None
        sink = _CountingSink(MetricSink(writer, job.name))
        sampler_cpu = choose_sampler_cpu(job_cpus, sorted(os.sched_getaffinity(0)))
        collectors = [HostCollector(job_cpus), CgroupCollector(container_id, pid=pid_of(container_id)),
                      *(make() for make in accelerators)]
        sampler = Sampler(
            collectors,
            sink,
            interval_s=settings.sample_interval_s,
            batch_interval_s=settings.sample_batch_interval_s,
            ship_between_repetitions_only=settings.ship_between_repetitions_only,
            cpu_affinity={sampler_cpu} if sampler_cpu is not None else None,
            job_id=job.id, host_id=job.host_id or settings.minion_id, repetition=repetition,
            attempt=job.attempts,
        ).start()
        return TelemetrySession(sampler, sink, settings.telemetry_warning_threshold)

    return start


def result_publisher(writer: StoreWriter, caps: HostCapabilities) -> ResultSink:
    """Publishes repetitions and job summaries with the hardware of ``caps`` (this host)."""
    from benchfarm.analysis.baselines import hardware_class

    hardware = {"pool": caps.pool, "class": hardware_class(caps),
                "cpu_model": caps.cpu_model, "cpu_vendor": caps.cpu_vendor,
                "cpu_count": str(caps.cpu_count), "memory_bytes": str(caps.memory_bytes),
                "gpus": ",".join(g.model for g in caps.gpus), "fpgas": ",".join(f.model for f in caps.fpgas),
                "driver_versions": ",".join(sorted({g.driver_version for g in caps.gpus if g.driver_version}))}
    return ResultSink(writer, hardware)


class AsyncEventMirror:
    """Copies job events into the events index from a background thread.

    Redis holds the events (the system of record); this copy feeds search and
    dashboards, so it must never slow the job path: events are queued in memory
    and written in bulk (spooled to disk if Elasticsearch is away). A batch goes
    out ``flush_every_s`` after its first event, or at ``max_batch`` events,
    whichever comes first, however steadily events keep arriving. :meth:`close`
    (the composition root calls it when the process exits) writes what is still
    queued before the thread stops.

    Args:
        writer: the store writer (its ``index_docs`` and ``names``).
        flush_every_s: the longest an event waits in memory while the writer is free.
        max_batch: the most events per bulk write.
    """

    def __init__(self, writer: Any, flush_every_s: float = 1.0, max_batch: int = 500) -> None:
        self.writer = writer
        self.flush_every_s = flush_every_s
        self.max_batch = max_batch
        self._pending: deque[Any] = deque()
        self._changed = threading.Condition()
        self._closing = False
        self._flush_requested = False
        self._writing = 0  # events taken from the queue and not written yet
        self._thread = threading.Thread(target=self._run, daemon=True, name="event-mirror")
        self._thread.start()

    def __call__(self, event: Any) -> None:
        """Queue one event (the repository's listener); after :meth:`close`, it is written at once."""
        with self._changed:
            if not self._closing:
                self._pending.append(event)
                self._changed.notify_all()
                return
        self._write([event])

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Write every event queued so far now; returns whether they were all written within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            self._flush_requested = bool(self._pending)
            self._changed.notify_all()
            while self._pending or self._writing:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._changed.wait(left)
            return True

    def close(self, timeout_s: float = 30.0) -> bool:
        """Write what is still queued and stop the thread; returns whether everything was written in time.

        Idempotent; events arriving after it are written synchronously.
        """
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout_s)
        return not self._thread.is_alive() and not self._pending

    def _next_batch(self) -> list[Any]:
        """Wait for a batch: the first event, then more until ``flush_every_s`` after it, ``max_batch`` events,
        a flush or close. Returns [] when closing with nothing left."""
        with self._changed:
            while not self._pending and not self._closing:
                self._changed.wait()
            due = time.monotonic() + self.flush_every_s
            while (len(self._pending) < self.max_batch and not self._closing and not self._flush_requested
                   and (left := due - time.monotonic()) > 0):
                self._changed.wait(left)
            batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
            if not self._pending:
                self._flush_requested = False
            self._writing = len(batch)
            return batch

    def _run(self) -> None:
        while batch := self._next_batch():
            self._write(batch)
            with self._changed:
                self._writing = 0
                self._changed.notify_all()

    def _write(self, batch: list[Any]) -> None:
        from benchfarm.store import documents

        try:
            self.writer.index_docs(self.writer.names["events"], [documents.event_doc(e) for e in batch])
        except Exception:  # the writer spools what Elasticsearch does not take; this is a bug or a full disk
            log.warning("mirroring %d events to Elasticsearch failed", len(batch), exc_info=True)
