"""Extracting a repetition's metrics from what the benchmark printed or wrote.

The contract with a benchmark image (``results.format`` in the job spec):

- ``json-lines``: JSON objects on stdout, one metric set per line. Lines are
  merged in order, so a later line's value for a metric replaces an earlier
  one (print progress lines, then the final figures). A line starting with
  ``{`` must be a valid JSON object; any other line is log output and ignored.
- ``json-file``: one JSON object in the spec's ``results.path`` under /results.

Metric values are JSON numbers (booleans and strings are not metrics).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from benchfarm.errors import BenchmarkFailedError

_HINT = "the spec's results.metrics must match what the benchmark reports; see `benchfarm jobs logs`"


def _excerpt(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None: not a number, a boolean, NaN, infinite or too large."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int past float's range (JSON allows any number of digits)
        return None
    return number if math.isfinite(number) else None


def _numbers(obj: dict[str, Any]) -> dict[str, float]:
    return {k: number for k, v in obj.items() if (number := _finite(v)) is not None}


class _Undecodable(Exception):
    """JSON text that json.loads refused: why, and where when the decoder says (1-based line, column)."""

    def __init__(self, why: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.line = line
        self.column = column


def _loads(text: str) -> Any:
    """``json.loads`` with each of its failures as one :class:`_Undecodable`.

    Besides JSONDecodeError, the decoder raises a bare ValueError for an integer
    past Python's digit limit and RecursionError for deep nesting; neither has a
    position.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Undecodable(exc.msg, exc.lineno, exc.colno) from None
    except ValueError:  # int max-str-digits: a number too long to read
        raise _Undecodable(f"a number with more than {sys.get_int_max_str_digits()} digits") from None
    except RecursionError:
        raise _Undecodable("nested too deeply") from None


def _from_json_lines(stdout: str) -> tuple[dict[str, Any], str]:
    merged: dict[str, Any] = {}
    for number, raw in enumerate(stdout.splitlines(), start=1):
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = _loads(line)
        except _Undecodable as exc:
            why = exc.why if exc.column is None else f"{exc.why} at column {exc.column}"
            raise BenchmarkFailedError(
                f"stdout line {number} looks like JSON but is not valid ({why}): {_excerpt(line)}",
                hint="print each metric set as one complete JSON object per line") from None
        merged.update(obj)
    return merged, "stdout (JSON lines)"


def _from_json_file(path: str, files: dict[str, bytes]) -> tuple[dict[str, Any], str]:
    raw = files.get(path)
    if raw is None:
        present = ", ".join(sorted(files)) or "none"
        raise BenchmarkFailedError(f"the benchmark wrote no results file {path} (files in /results: {present})",
                                   hint="check results.path in the spec and `benchfarm jobs logs`")
    try:
        obj = _loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise BenchmarkFailedError(f"{path} is not UTF-8 JSON") from None
    except _Undecodable as exc:
        why = exc.why if exc.line is None else f"{exc.why} at line {exc.line} column {exc.column}"
        raise BenchmarkFailedError(f"{path} is not valid JSON: {why}",
                                   hint="the benchmark must write one JSON object of metrics") from None
    if not isinstance(obj, dict):
        raise BenchmarkFailedError(f"{path} must hold a JSON object of metrics, not a {type(obj).__name__}")
    return obj, path


def parse_results(spec: Any, stdout: str, files: dict[str, bytes]) -> dict[str, float]:
    """The metrics of one repetition.

    Args:
        spec: the JobSpec (its ``results`` says the format, the file path and the declared metrics).
        stdout: the container's standard output.
        files: the files the benchmark wrote, keyed by their path in the container (``/results/...``).

    Returns:
        The declared metrics, as floats; when the spec declares none, every numeric field reported.

    Raises:
        BenchmarkFailedError: a malformed JSON line (named by its line number), a missing or
            malformed results file, or a declared metric that is absent or not a finite number.
    """
    results = spec.results
    if results.format == "json-lines":
        reported, where = _from_json_lines(stdout)
    else:
        reported, where = _from_json_file(results.path, files)
    if not results.metrics:
        return _numbers(reported)
    missing = [m for m in results.metrics if m not in reported]
    if missing:
        seen = ", ".join(sorted(reported)) or "nothing"
        noun = "metric" if len(missing) == 1 else "metrics"
        raise BenchmarkFailedError(f"{noun} {', '.join(missing)} not found in {where} (it reported: {seen})",
                                   hint=_HINT)
    values = _numbers({m: reported[m] for m in results.metrics})
    bad = [f"{m}={_excerpt(repr(reported[m]), 40)}" for m in results.metrics if m not in values]
    if bad:
        raise BenchmarkFailedError(f"metric values are not finite numbers in {where}: {', '.join(bad)}", hint=_HINT)
    return values
