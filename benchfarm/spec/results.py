"""Extracting a repetition's metrics from what the benchmark printed or wrote.

The contract with a benchmark image is the job spec's ``results``:

- **Where**: stdout, or the file ``results.path`` under /results when it is
  given (``json-file`` reads /results/result.json unless told otherwise).
- **Format** (``results.format``), read by :mod:`benchfarm.spec.result_formats`:
  ``json-lines`` (objects on stdout, one per line, merged in order so a later
  value replaces an earlier one; each ``{name: value}``, a
  ``{"metric", "value", "unit"}`` record, or BMF), ``json-file`` (one JSON
  document), ``bmf``, ``google-benchmark``, ``pytest-benchmark``, ``fio`` and
  ``regex`` (the spec's ``patterns``; each named group a metric).
- **auto** (the default) detects what is unambiguous: a JSON document whose keys
  only one tool writes (Google Benchmark, pytest-benchmark, fio) or that has
  BMF's shape is read as that tool's output; a pretty-printed JSON object is a
  plain object of metrics; anything else is JSON lines. A regex is never guessed:
  ``patterns`` without a format means ``regex``.
- **Selection**: with ``results.metrics`` declared, exactly those are kept and each
  must be reported as a finite number; a reported unit of the same quantity but
  another scale (``us`` for a declared ``ms``) is converted, and a direction the
  output states (Google Benchmark times are lower-is-better) must agree with the
  spec's, so that a regression is never read the wrong way round. Without a
  declaration every finite number is kept, up to :data:`MAX_UNDECLARED`.

Every failure is a :class:`BenchmarkFailedError` that says where it looked, what it
found and what the spec expected.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from benchfarm.errors import BenchmarkFailedError
from benchfarm.spec.model import JobSpec, ResultsSpec
from benchfarm.spec.result_formats import (
    Found,
    Malformed,
    Parsed,
    ResultFormat,
    detect_document,
    parse_document,
    parse_json_lines,
    parse_regex,
    title,
)
from benchfarm.spec.result_json import Undecodable, excerpt, find_document, loads
from benchfarm.spec.units import UnitMismatch, convert

__all__ = ["MAX_UNDECLARED", "Extraction", "extract", "parse_results"]

#: The most metrics one repetition keeps when the spec declares none (each becomes a stored field).
MAX_UNDECLARED = 200
_LISTED = 30  # reported names shown in an error

_HINT = "the spec's results.metrics must match what the benchmark reports; see `benchfarm jobs logs`"
_FORMAT_HINTS = {
    ResultFormat.JSON_LINES: "print each metric set as one complete JSON object per line",
    ResultFormat.JSON_FILE: "the benchmark must write one JSON object of metrics",
}


@dataclass(frozen=True)
class Extraction:
    """Everything one output reported, before the spec's selection."""

    format: ResultFormat     # the format read (after detection)
    where: str               # e.g. "stdout (Google Benchmark JSON, detected)"
    found: dict[str, Found]
    skipped: dict[str, str]  # benchmarks left out, and why


def _source(results: ResultsSpec, stdout: str, files: dict[str, bytes]) -> str:
    if results.path is None:
        return stdout
    raw = files.get(results.path)
    if raw is None:
        present = ", ".join(sorted(files)) or "none"
        raise BenchmarkFailedError(f"the benchmark wrote no results file {results.path} (files in /results: {present})",
                                   hint="check results.path in the spec and `benchfarm jobs logs`")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        kind = "text" if results.format is ResultFormat.REGEX else "JSON"
        raise BenchmarkFailedError(f"{results.path} is not UTF-8 {kind}",
                                   hint="the benchmark must write its results as UTF-8 text") from None


def _malformed(fmt: ResultFormat, message: str) -> BenchmarkFailedError:
    return BenchmarkFailedError(message, hint=_FORMAT_HINTS.get(
        fmt, f"check that the benchmark's output is {title(fmt)}, or set results.format to what it prints"))


def _document(text: str, label: str, fmt: ResultFormat, *, from_file: bool) -> object:
    """The JSON document in ``text``; on stdout, the one starting at the first ``{`` line when there is noise."""
    try:
        return loads(text)
    except Undecodable as exc:
        error = exc
    if not from_file and text.strip():
        try:
            return find_document(text).value
        except Undecodable as exc:
            error = exc
    raise _malformed(fmt, f"{label} is not valid {title(fmt)}: {error.where()}")


def _detect(text: str, label: str, fmt: ResultFormat, *, from_file: bool) -> tuple[Parsed, bool]:
    """Read ``text`` as format auto (or json-file); returns what was read and whether a tool was detected."""
    strict = fmt is ResultFormat.JSON_FILE
    if strict:
        doc = _document(text, label, fmt, from_file=from_file)
    else:
        try:
            doc = loads(text)
        except Undecodable:
            try:
                found = find_document(text)
            except Undecodable:
                return parse_json_lines(text, label), False
            if found.lines == 1:  # single-line objects among log lines: JSON lines
                return parse_json_lines(text, label), False
            doc = found.value
        if not isinstance(doc, (dict, list)):
            return parse_json_lines(text, label), False
    kind = detect_document(doc)
    if kind is ResultFormat.JSON_FILE and not strict:
        if isinstance(doc, dict) and "\n" not in text.strip():
            return parse_json_lines(text, label), False  # one object on one line is JSON lines
        try:
            return parse_document(kind, doc), False
        except Malformed:  # not metrics (a list of numbers): JSON lines, which skip what is not an object
            return parse_json_lines(text, label), False
    return parse_document(kind, doc), kind is not ResultFormat.JSON_FILE


def extract(results: ResultsSpec, stdout: str, files: dict[str, bytes]) -> Extraction:
    """Read every metric the benchmark reported, in the spec's format (see the module doc).

    Args:
        results: the spec's ``results``.
        stdout: the container's standard output.
        files: the files the benchmark wrote, keyed by their path in the container (``/results/...``).

    Raises:
        BenchmarkFailedError: the results file is missing or not UTF-8, or the output is not of
            the format (a malformed JSON line named by its number, a document missing what the
            format needs).
    """
    text = _source(results, stdout, files)
    label = results.path or "stdout"
    fmt = results.format
    from_file = results.path is not None
    detected = False
    try:
        if fmt is ResultFormat.REGEX:
            parsed = parse_regex(text, [re.compile(p) for p in results.patterns])
        elif fmt is ResultFormat.JSON_LINES:
            parsed = parse_json_lines(text, label)
        elif fmt in (ResultFormat.AUTO, ResultFormat.JSON_FILE):
            parsed, detected = _detect(text, label, fmt, from_file=from_file)
        else:
            parsed = parse_document(fmt, _document(text, label, fmt, from_file=from_file))
    except Malformed as exc:
        message = str(exc) if str(exc).startswith(label) else f"{label}: {exc}"
        raise _malformed(fmt, message) from None
    if parsed.format is ResultFormat.JSON_FILE:  # a JSON object in a file: the path says it all
        where = label if from_file else f"{label} (JSON)"
    else:
        where = f"{label} ({title(parsed.format)}{', detected' if detected else ''})"
    return Extraction(parsed.format, where, parsed.found, parsed.skipped)


def _names(names: list[str]) -> str:
    if not names:
        return "nothing"
    shown = ", ".join(names[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown}, ... ({len(names)} in all)"


def _missing_message(missing: list[str], got: Extraction) -> str:
    noun = "metric" if len(missing) == 1 else "metrics"
    message = f"{noun} {', '.join(missing)} not found in {got.where} (it reported: {_names(sorted(got.found))})"
    left_out = [f"{name} ({why})" for name, why in got.skipped.items()
                if any(m == name or m.startswith(name + ".") for m in missing)]
    if left_out:
        message += f"; left out: {'; '.join(left_out)}"
    close = [c for m in missing for c in difflib.get_close_matches(m, list(got.found), n=1, cutoff=0.75)]
    if close:
        message += f"; did you mean {', '.join(close)}?"
    return message


def parse_results(spec: JobSpec, stdout: str, files: dict[str, bytes]) -> dict[str, float]:
    """The metrics of one repetition.

    Args:
        spec: the job spec (its ``results`` says the format, where to read and the declared metrics).
        stdout: the container's standard output.
        files: the files the benchmark wrote, keyed by their path in the container (``/results/...``).

    Returns:
        The declared metrics as floats, in the declared units; when the spec declares none,
        every finite number reported.

    Raises:
        BenchmarkFailedError: what :func:`extract` raises; a declared metric that is absent or
            not a finite number; a unit or direction the output states that contradicts the
            spec; more than :data:`MAX_UNDECLARED` metrics and none declared.
    """
    got = extract(spec.results, stdout, files)
    declared = spec.results.metrics
    if not declared:
        every = {name: f.value for name, f in got.found.items() if f.value is not None}
        if len(every) > MAX_UNDECLARED:
            raise BenchmarkFailedError(
                f"{got.where} reported {len(every)} metrics; a job keeps at most {MAX_UNDECLARED} "
                "unless its spec declares which",
                hint="list the metrics to keep in the spec's results.metrics")
        return every
    missing = [m for m in declared if m not in got.found]
    if missing:
        raise BenchmarkFailedError(_missing_message(missing, got), hint=_HINT)
    bad = [f"{m}={excerpt(repr(got.found[m].raw), 40)}" for m in declared if got.found[m].value is None]
    if bad:
        raise BenchmarkFailedError(f"metric values are not finite numbers in {got.where}: {', '.join(bad)}",
                                   hint=_HINT)
    values: dict[str, float] = {}
    problems: list[str] = []
    for name, metric in declared.items():
        found = got.found[name]
        assert found.value is not None
        if found.direction is not None and found.direction != metric.direction:
            problems.append(f"{name} is {found.direction}-is-better in {got.where}, but the spec says "
                            f"{metric.direction} (results.metrics.{name}.direction; the default is higher)")
        try:
            values[name] = convert(found.value, found.unit, metric.unit)
        except UnitMismatch as exc:
            problems.append(f"{name} is {exc}")
    if problems:
        raise BenchmarkFailedError("; ".join(problems),
                                   hint="make results.metrics in the spec say what the benchmark reports")
    return values
