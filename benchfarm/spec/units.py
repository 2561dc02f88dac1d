"""Units a benchmark reports a metric in, and converting between those that differ only in scale.

A tool's output sometimes says the unit (Google Benchmark's ``time_unit``, fio's
``clat_ns``, a ``{"metric", "value", "unit"}`` line); the job spec declares the
unit it wants the metric stored in. When both are known units of the same
quantity (``us`` and ``ms``, ``KiB/s`` and ``MB/s``) the value is converted; when
they are known units of different quantities (``ns`` and ``MB/s``) the spec and
the benchmark disagree about what the number is, which is an error. Any other
unit (``events/s``, ``items/s``, ``TFLOP/s``) is a label: kept as the spec says.
"""

from __future__ import annotations

from fractions import Fraction

__all__ = ["UnitMismatch", "convert"]

_TIME = {"ns": Fraction(1, 10**9), "us": Fraction(1, 10**6), "µs": Fraction(1, 10**6), "μs": Fraction(1, 10**6),
         "ms": Fraction(1, 1000), "s": Fraction(1)}
_BYTES = {"B": Fraction(1), "KB": Fraction(10**3), "MB": Fraction(10**6), "GB": Fraction(10**9),
          "TB": Fraction(10**12), "KiB": Fraction(1 << 10), "MiB": Fraction(1 << 20), "GiB": Fraction(1 << 30),
          "TiB": Fraction(1 << 40)}
_BYTE_RATE = {f"{unit}/s": factor for unit, factor in _BYTES.items()}

#: unit spelling -> (quantity, exact factor to the quantity's base unit)
_KNOWN: dict[str, tuple[str, Fraction]] = {
    **{u: ("time", f) for u, f in _TIME.items()},
    **{u: ("bytes", f) for u, f in _BYTES.items()},
    **{u: ("byte rate", f) for u, f in _BYTE_RATE.items()},
}
_ALIASES = {"sec": "s", "secs": "s", "seconds": "s", "second": "s", "msec": "ms", "usec": "us", "nsec": "ns",
            "milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns", "bytes": "B", "B/sec": "B/s"}


class UnitMismatch(ValueError):
    """The reported and the declared unit measure different quantities (time against a byte rate)."""

    def __init__(self, reported: str, declared: str, reported_quantity: str, declared_quantity: str) -> None:
        super().__init__(f"reported in {reported} (a {reported_quantity}), but the spec declares "
                         f"{declared} (a {declared_quantity})")
        self.reported = reported
        self.declared = declared


def _known(unit: str) -> tuple[str, Fraction] | None:
    text = unit.strip()
    return _KNOWN.get(_ALIASES.get(text, text))


def convert(value: float, reported: str, declared: str) -> float:
    """``value`` measured in ``reported`` expressed in ``declared``.

    Unchanged when either unit is empty or unknown, or when they are the same.

    Raises:
        UnitMismatch: both are known units but of different quantities.
    """
    if not reported or not declared or reported.strip() == declared.strip():
        return value
    src, dst = _known(reported), _known(declared)
    if src is None or dst is None:
        return value
    if src[0] != dst[0]:
        raise UnitMismatch(reported, declared, src[0], dst[0])
    ratio = src[1] / dst[1]  # exact, so that 0.25 ms is 250 us, not 250.00000000000003
    return value * ratio.numerator / ratio.denominator
