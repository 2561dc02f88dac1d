"""NVML adapter: the only module that imports ``pynvml`` (package ``nvidia-ml-py``).

Two users, two shapes:

- the GPU collector samples through :class:`NvmlAdapter`: NVML is initialised once
  per process (thread-safe) and device handles are cached, so a sample costs only
  the NVML queries themselves.  Each getter returns ``None`` when the device does
  not support that query (a normal answer on many boards, e.g. ECC on consumer
  GPUs), and raises ``ServiceUnavailableError`` when the GPU stops answering
  (fallen off the bus).
- hardware detection (``benchfarm.inventory.hardware``, the Salt grains) lists what
  the GPUs are through :func:`list_gpus`, in a session of its own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from benchfarm.errors import ServiceUnavailableError, SetupError

try:
    import pynvml
except ImportError:  # pragma: no cover - nvidia-ml-py is a dependency, but a stripped install may lack it
    pynvml = None

T = TypeVar("T")


class _NvmlState:
    """Process-wide NVML state; ``initialised`` is only read or set while holding ``lock``."""

    lock = threading.Lock()
    initialised = False


_handles: dict[int, Any] = {}


def init() -> int:
    """Initialise NVML once for this process; returns the number of GPUs.

    Raises:
        SetupError: pynvml, the NVIDIA driver or its library is missing, or NVML refuses to start.
    """
    if pynvml is None:
        raise SetupError("pynvml is not importable", hint="pip install nvidia-ml-py")
    with _NvmlState.lock:
        if not _NvmlState.initialised:
            try:
                pynvml.nvmlInit()
            except pynvml.NVMLError as exc:
                raise SetupError(f"NVML could not start: {exc}",
                                 hint="install the NVIDIA driver (libnvidia-ml.so.1) on GPU hosts; "
                                      "hosts without a GPU simply have no GPU collector") from exc
            _NvmlState.initialised = True
        try:
            return int(pynvml.nvmlDeviceGetCount())
        except pynvml.NVMLError as exc:
            raise SetupError(f"NVML could not count GPUs: {exc}", hint="check nvidia-smi works on this host") from exc


def _call(fn: Callable[..., T], *args: Any) -> T:
    """Call an NVML function; its NVMLError becomes ServiceUnavailableError."""
    try:
        return fn(*args)
    except pynvml.NVMLError as exc:
        raise ServiceUnavailableError(f"NVML {fn.__name__} failed: {exc}",
                                      hint="check the GPU with nvidia-smi; it may have fallen off the bus") from exc


@dataclass(frozen=True)
class GpuIdentity:
    """What one GPU is (not how busy it is): what hardware detection lists."""

    index: int
    name: str  # e.g. "NVIDIA H100 80GB HBM3"
    uuid: str
    memory_bytes: int
    driver_version: str


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def list_gpus() -> Iterator[GpuIdentity]:
    """Every GPU's identity, read in an NVML session of its own.

    NVML counts ``nvmlInit``/``nvmlShutdown`` pairs, so this session neither needs
    nor ends the process-wide one of :class:`NvmlAdapter`.  A generator: the GPUs
    read before a failure have been yielded when it raises.

    Raises:
        SetupError: pynvml, the NVIDIA driver or its library is missing, or NVML refuses
            to start: this host has no usable GPU.
        ServiceUnavailableError: a GPU stopped answering while being listed.
    """
    if pynvml is None:
        raise SetupError("pynvml is not importable", hint="pip install nvidia-ml-py")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise SetupError(f"NVML could not start: {exc}",
                         hint="install the NVIDIA driver (libnvidia-ml.so.1) on GPU hosts") from exc
    try:
        driver = _text(_call(pynvml.nvmlSystemGetDriverVersion))
        for index in range(_call(pynvml.nvmlDeviceGetCount)):
            handle = _call(pynvml.nvmlDeviceGetHandleByIndex, index)
            yield GpuIdentity(
                index=index,
                name=_text(_call(pynvml.nvmlDeviceGetName, handle)),
                uuid=_text(_call(pynvml.nvmlDeviceGetUUID, handle)),
                memory_bytes=int(_call(pynvml.nvmlDeviceGetMemoryInfo, handle).total),
                driver_version=driver,
            )
    finally:
        with contextlib.suppress(pynvml.NVMLError):  # changes nothing for the caller: the GPUs were read
            pynvml.nvmlShutdown()


class NvmlAdapter:
    """Reads one process-wide NVML session; construct freely, :func:`init` runs once."""

    def __init__(self) -> None:
        self._count = init()

    def device_count(self) -> int:
        return self._count

    def _handle(self, i: int) -> Any:
        h = _handles.get(i)
        if h is None:
            h = _handles[i] = _call(pynvml.nvmlDeviceGetHandleByIndex, i)
        return h

    def _query(self, fn: Callable[..., T], i: int, *args: Any) -> T | None:
        try:
            return fn(self._handle(i), *args)
        except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_NoPermission,
                pynvml.NVMLError_FunctionNotFound, pynvml.NVMLError_NotFound):
            return None
        except pynvml.NVMLError as exc:
            raise ServiceUnavailableError(f"NVML {fn.__name__} on GPU {i} failed: {exc}",
                                          hint="check the GPU with nvidia-smi; it may have fallen off the bus") from exc

    def utilization(self, i: int) -> tuple[int, int] | None:
        """(GPU busy %, memory controller busy %) over the driver's last sample period."""
        u = self._query(pynvml.nvmlDeviceGetUtilizationRates, i)
        return None if u is None else (int(u.gpu), int(u.memory))

    def memory(self, i: int) -> tuple[int, int] | None:
        """(used bytes, total bytes) of device memory."""
        m = self._query(pynvml.nvmlDeviceGetMemoryInfo, i)
        return None if m is None else (int(m.used), int(m.total))

    def power_w(self, i: int) -> float | None:
        mw = self._query(pynvml.nvmlDeviceGetPowerUsage, i)
        return None if mw is None else mw / 1000.0

    def temperature_c(self, i: int) -> float | None:
        t = self._query(pynvml.nvmlDeviceGetTemperature, i, pynvml.NVML_TEMPERATURE_GPU)
        return None if t is None else float(t)

    def clocks_mhz(self, i: int) -> tuple[int, int] | None:
        """(SM clock, memory clock) in MHz."""
        sm = self._query(pynvml.nvmlDeviceGetClockInfo, i, pynvml.NVML_CLOCK_SM)
        mem = self._query(pynvml.nvmlDeviceGetClockInfo, i, pynvml.NVML_CLOCK_MEM)
        return None if sm is None or mem is None else (int(sm), int(mem))

    def pcie_kb_per_s(self, i: int) -> tuple[int, int] | None:
        """(tx, rx) PCIe throughput in KB/s; NVML samples it over ~20 ms, so this call blocks that long."""
        tx = self._query(pynvml.nvmlDeviceGetPcieThroughput, i, pynvml.NVML_PCIE_UTIL_TX_BYTES)
        rx = self._query(pynvml.nvmlDeviceGetPcieThroughput, i, pynvml.NVML_PCIE_UTIL_RX_BYTES)
        return None if tx is None or rx is None else (int(tx), int(rx))

    def throttle_reasons(self, i: int) -> int | None:
        """Bitmask of the reasons clocks are held down (nvmlClocksEventReason* constants)."""
        fn = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            pynvml.nvmlDeviceGetCurrentClocksThrottleReasons
        r = self._query(fn, i)
        return None if r is None else int(r)

    def ecc_errors(self, i: int) -> tuple[int, int] | None:
        """(corrected, uncorrected) volatile ECC error counts since the driver loaded."""
        c = self._query(pynvml.nvmlDeviceGetTotalEccErrors, i, pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED,
                        pynvml.NVML_VOLATILE_ECC)
        u = self._query(pynvml.nvmlDeviceGetTotalEccErrors, i, pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                        pynvml.NVML_VOLATILE_ECC)
        return None if c is None or u is None else (int(c), int(u))
