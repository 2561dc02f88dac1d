"""The collector contract: samples, field declarations, availability, and where samples go.

A collector reads one kind of source (the host's /proc, a container's cgroup,
NVML, FPGA hwmon) and returns a flat ``{field: number}`` mapping per call.
The sampler stamps it into a :class:`Sample` and ships batches to a
:class:`SampleSink` (the Elasticsearch store implements one).
"""

from __future__ import annotations

import contextlib
import logging
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

Number = float | int


@dataclass(slots=True)
class Sample:
    """One reading of one collector at one instant.

    ``timestamp`` is wall time (epoch seconds) derived from a monotonic clock
    anchored once when the sampler started, so it never jumps with NTP.
    ``job_id``, ``repetition``, ``host_id`` and ``attempt`` are filled by the sampler.
    """

    timestamp: float
    collector: str
    fields: dict[str, Number]
    job_id: str = ""
    repetition: int = 0
    host_id: str = ""
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A field a collector may return, with its unit (``pct``, ``bytes``, ``bytes/s``, ``s``, ``MHz``, ...)."""

    name: str
    unit: str


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether a collector can run here; ``reason`` says why not (or what it found)."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


class SampleSink(Protocol):
    """Receives batches of samples; raising means "not stored, give them to me again later"."""

    def ship(self, samples: list[Sample]) -> None: ...


class Collector(ABC):
    """Base of every collector.

    Subclasses implement :meth:`_probe` (find the source, open files, prime
    counters), :meth:`fields` and :meth:`sample`.  :meth:`available` probes
    once, caches the answer and logs an unavailable collector once, so the
    sampler can simply skip it afterwards.
    """

    name: str = "collector"

    def __init__(self) -> None:
        self._availability: Availability | None = None

    def available(self) -> Availability:
        """Probe the source once (later calls return the cached answer); logs once when unavailable."""
        if self._availability is None:
            try:
                self._availability = self._probe()
            except OSError as exc:
                self._availability = Availability(False, f"{type(exc).__name__}: {exc}")
            if not self._availability.ok:
                log.info("collector %s unavailable: %s", self.name, self._availability.reason)
        return self._availability

    @abstractmethod
    def _probe(self) -> Availability:
        """Find and open the source; return whether it can be sampled."""

    @abstractmethod
    def fields(self) -> list[FieldSpec]:
        """The fields :meth:`sample` may return (rates may be missing on the very first sample)."""

    @abstractmethod
    def sample(self) -> dict[str, Number]:
        """Read the source now.  Raises ``OSError`` when the source vanished (e.g. the container exited)."""

    def close(self) -> None:
        """Release files and handles; the collector cannot be sampled afterwards."""
        # An optional hook, not abstract: a collector holding no files or handles has nothing to release.
        return None


class OpenFile:
    """A file kept open and re-read from offset 0 with one ``pread`` per sample.

    /proc, sysfs and cgroup files regenerate their content on each read from
    offset 0, so there is no need to reopen them every time.
    """

    __slots__ = ("_fd", "_size", "path")

    def __init__(self, path: str | os.PathLike[str], size: int = 65536) -> None:
        self.path = os.fspath(path)
        self._fd: int | None = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        self._size = size

    def read(self) -> bytes:
        """The file's whole current content (grows the read size if it was too small)."""
        if self._fd is None:
            raise OSError(f"{self.path} is closed")
        data = os.pread(self._fd, self._size, 0)
        while len(data) >= self._size:  # a bigger file than we thought: read it all
            self._size *= 4
            data = os.pread(self._fd, self._size, 0)
        return data

    def read_int(self) -> int:
        """The file's content as one integer (``max`` reads as -1)."""
        text = self.read().strip()
        return -1 if text == b"max" else int(text)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def close_all(files: dict[str, OpenFile] | list[OpenFile]) -> None:
    """Close every file of a collector, ignoring ones already gone."""
    for f in files.values() if isinstance(files, dict) else files:
        with contextlib.suppress(OSError):
            f.close()


@dataclass
class RateTracker:
    """Turns cumulative counters into per-second rates between consecutive calls."""

    last: dict[str, float] = field(default_factory=dict)
    last_t: float | None = None

    def rates(self, now: float, counters: dict[str, float], out: dict[str, Number], suffix: str = "_per_s") -> None:
        """Write ``name+suffix`` rates into ``out`` (nothing on the first call, or if time did not advance)."""
        if self.last_t is not None and now > self.last_t:
            dt = now - self.last_t
            last = self.last
            for k, v in counters.items():
                prev = last.get(k)
                if prev is not None and v >= prev:  # a counter reset gives no rate rather than a negative one
                    out[k + suffix] = (v - prev) / dt
        self.last = counters
        self.last_t = now
