"""GPU collector: NVML readings of every (or selected) NVIDIA GPU, through an :class:`NvmlReader`
(benchfarm.adapters.nvml.NvmlAdapter on a real host, handed in by the composition root).

Fields are ``gpu<i>_<metric>``: utilisation, memory used/total, power,
temperature, SM and memory clocks, PCIe tx/rx, throttle-reason bitmask and
volatile ECC error counts.  Queries a device does not support are found at
probe time and never asked again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from benchfarm.collectors.base import Availability, Collector, FieldSpec, Number
from benchfarm.errors import SetupError


@runtime_checkable
class NvmlReader(Protocol):
    """What the GPU collector needs from NVML; the NVML adapter and the unit tests' fakes implement it."""

    def device_count(self) -> int: ...
    def utilization(self, i: int) -> tuple[int, int] | None: ...
    def memory(self, i: int) -> tuple[int, int] | None: ...
    def power_w(self, i: int) -> float | None: ...
    def temperature_c(self, i: int) -> float | None: ...
    def clocks_mhz(self, i: int) -> tuple[int, int] | None: ...
    def pcie_kb_per_s(self, i: int) -> tuple[int, int] | None: ...
    def throttle_reasons(self, i: int) -> int | None: ...
    def ecc_errors(self, i: int) -> tuple[int, int] | None: ...


# metric -> (reader method, field suffixes with units, converter from the reader's answer to field values)
_METRICS: dict[str, tuple[str, tuple[tuple[str, str], ...], Callable[[Any], tuple[Number, ...]]]] = {
    "utilization": ("utilization", (("util_pct", "pct"), ("mem_util_pct", "pct")), tuple),
    "memory": ("memory", (("mem_used_bytes", "bytes"), ("mem_total_bytes", "bytes")), tuple),
    "power": ("power_w", (("power_w", "W"),), lambda v: (v,)),
    "temperature": ("temperature_c", (("temp_c", "degC"),), lambda v: (v,)),
    "clocks": ("clocks_mhz", (("sm_clock_mhz", "MHz"), ("mem_clock_mhz", "MHz")), tuple),
    "pcie": ("pcie_kb_per_s", (("pcie_tx_bytes_per_s", "bytes/s"), ("pcie_rx_bytes_per_s", "bytes/s")),
             lambda v: (v[0] * 1024, v[1] * 1024)),
    "throttle": ("throttle_reasons", (("throttle_reasons", "bitmask"),), lambda v: (v,)),
    "ecc": ("ecc_errors", (("ecc_corrected", "count"), ("ecc_uncorrected", "count")), tuple),
}


class GpuCollector(Collector):
    """NVML metrics of NVIDIA GPUs.

    Args:
        reader: an NVML reader already open.
        open_reader: opens one on first use, raising SetupError where NVML is absent (the composition
            root passes :class:`~benchfarm.adapters.nvml.NvmlAdapter`); with neither, the collector is
            unavailable.
        indices: GPU indices to sample (default: all, or those given to the job).
        pcie: include PCIe throughput.  NVML measures it over ~20 ms per direction (about 42 ms wall and
            2 ms CPU per sample measured on an H100, against 0.03 ms for everything else), so it is read
            at most every ``pcie_every_s`` and its fields are absent from the samples in between.
        pcie_every_s: shortest time between two PCIe readings.
    """

    name = "gpu"

    def __init__(self, reader: NvmlReader | None = None, *, open_reader: Callable[[], NvmlReader] | None = None,
                 indices: list[int] | None = None, pcie: bool = True,
                 pcie_every_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._pcie_every_s = pcie_every_s
        self._clock = clock
        self._pcie_next = 0.0
        self._reader = reader
        self._open_reader = open_reader
        self._indices = indices
        self._pcie = pcie
        # (bound reader method, device index, field names, converter, is the slow PCIe query)
        self._plan: list[
            tuple[Callable[[int], Any], int, tuple[str, ...], Callable[[Any], tuple[Number, ...]], bool]
        ] = []
        self._fields: list[FieldSpec] = []

    def _probe(self) -> Availability:
        if self._reader is None:
            if self._open_reader is None:
                return Availability(False, "no NVML reader configured")
            try:
                self._reader = self._open_reader()
            except SetupError as exc:
                return Availability(False, exc.message)
        reader = self._reader
        count = reader.device_count()
        indices = [i for i in (self._indices if self._indices is not None else range(count)) if i < count]
        if not indices:
            return Availability(False, f"no NVIDIA GPU to sample (NVML sees {count})")
        for i in indices:
            for metric, (method, fields, conv) in _METRICS.items():
                if metric == "pcie" and not self._pcie:
                    continue
                fn = getattr(reader, method)
                if fn(i) is None:  # not supported on this device: never ask again
                    continue
                names = tuple(f"gpu{i}_{suffix}" for suffix, _ in fields)
                self._plan.append((fn, i, names, conv, metric == "pcie"))
                self._fields += [FieldSpec(n, unit) for n, (_, unit) in zip(names, fields, strict=True)]
        return Availability(True, f"{len(indices)} GPU(s), {len(self._fields)} fields")

    def fields(self) -> list[FieldSpec]:
        return list(self._fields)

    def sample(self) -> dict[str, Number]:
        out: dict[str, Number] = {}
        now = self._clock()
        pcie_due = now >= self._pcie_next
        if pcie_due:
            self._pcie_next = now + self._pcie_every_s
        for fn, i, names, conv, slow in self._plan:
            if slow and not pcie_due:
                continue
            value = fn(i)
            if value is None:
                continue
            for name, v in zip(names, conv(value), strict=False):  # never fail a sample over an odd reading
                out[name] = v
        return out

    def close(self) -> None:
        self._plan = []  # NVML stays initialised for the process: other samplers share it
