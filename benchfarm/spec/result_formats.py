"""The output formats benchmarks already have, read into metrics: name -> value, unit, better direction.

One reader per format, each taking the decoded output and returning a
:class:`Parsed`; choosing the format, reading stdout or a file and selecting the
spec's declared metrics is :mod:`benchfarm.spec.results`.

Metric names. A farm metric name is letters, digits, ``_``, ``.`` and ``-``
(it becomes an Elasticsearch field under ``m.``). Tools that report several
benchmarks get ``<benchmark>.<measure>``, e.g. ``BM_Accumulate_1024.real_time``
(Google Benchmark), ``test_sort_10.median`` (pytest-benchmark),
``randrw.read.iops`` (fio), ``tests_benchmark_a.latency`` (BMF). Every run of
other characters in a name part becomes one ``_`` (``BM_Accumulate/1024`` ->
``BM_Accumulate_1024``, ``test_sort[10]`` -> ``test_sort_10``); two benchmarks
whose names become the same are both left out, with the reason, rather than one
silently replacing the other.

Units and directions are what the format itself says (Google Benchmark's
``time_unit``, fio's ``_ns`` fields, a ``"unit"`` key); a format that does not
say leaves them empty / unknown, and the spec's declaration decides.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from benchfarm.spec.result_json import Undecodable, excerpt, finite, loads

__all__ = ["Found", "Malformed", "Parsed", "ResultFormat", "detect_document", "metric_name", "parse_document",
           "parse_json_lines", "parse_regex", "title"]

HIGHER, LOWER = "higher", "lower"


class ResultFormat(StrEnum):
    """How a benchmark reports its results (the job spec's ``results.format``)."""

    AUTO = "auto"                          # detected: see benchfarm.spec.results
    JSON_LINES = "json-lines"              # JSON objects on stdout, one per line, merged
    JSON_FILE = "json-file"                # one JSON object in a file under /results
    BMF = "bmf"                            # Bencher Metric Format
    GOOGLE_BENCHMARK = "google-benchmark"  # --benchmark_format=json
    PYTEST_BENCHMARK = "pytest-benchmark"  # --benchmark-json
    FIO = "fio"                            # --output-format=json
    REGEX = "regex"                        # text, named groups of the spec's patterns


_TITLES = {
    ResultFormat.JSON_LINES: "JSON lines", ResultFormat.JSON_FILE: "JSON", ResultFormat.BMF: "Bencher Metric Format",
    ResultFormat.GOOGLE_BENCHMARK: "Google Benchmark JSON", ResultFormat.PYTEST_BENCHMARK: "pytest-benchmark JSON",
    ResultFormat.FIO: "fio JSON", ResultFormat.REGEX: "regex",
}


def title(fmt: ResultFormat) -> str:
    """The format's name in messages, e.g. ``Google Benchmark JSON``."""
    return _TITLES.get(fmt, str(fmt))


class Malformed(Exception):
    """The output does not have the shape its format promises; the message says what is wrong."""


@dataclass(frozen=True)
class Found:
    """One reported metric: its value (None when the output holds something that is not a finite number)."""

    value: float | None
    unit: str = ""
    direction: str | None = None  # "higher", "lower", or None when the format does not say
    raw: Any = None               # what the output held, for the error when value is None


_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_DOTS = re.compile(r"\.{2,}")
_MAX_NAME = 100


def _clean(part: str) -> str:
    text = _DOTS.sub(".", _BAD_CHARS.sub("_", part)).strip(".")
    if text != part:  # drop the '_' that stood for characters at either end ("test_sort[10]" -> "test_sort_10")
        text = text[1:] if _BAD_CHARS.match(part) else text
        text = text[:-1] if _BAD_CHARS.search(part[-1:]) else text
    return text or "_"


def metric_name(*parts: str) -> str:
    """The farm metric name for a benchmark's measure: the cleaned parts joined by ``.`` (see module doc).

    A name past 100 characters keeps its start and ends in a hash of the whole, so it stays unique.
    """
    name = ".".join(_clean(p) for p in parts)
    if not (name[0].isascii() and (name[0].isalpha() or name[0] == "_")):
        name = "_" + name
    if len(name) > _MAX_NAME:
        digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]
        name = f"{name[: _MAX_NAME - 9]}-{digest}"
    return name


@dataclass
class Parsed:
    """What one output reported: metrics by farm name, and benchmarks left out with the reason."""

    format: ResultFormat
    found: dict[str, Found] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    _origin: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    def add(self, parts: tuple[str, ...], found: Found) -> None:
        """Add one benchmark measure; a name that two different benchmarks clean to is left out (``skipped``)."""
        name = metric_name(*parts)
        earlier = self._origin.setdefault(name, parts)
        if name in self.skipped:
            return
        if earlier != parts:
            self.found.pop(name, None)
            self.skipped[name] = (f"ambiguous: both {'.'.join(earlier)!r} and {'.'.join(parts)!r} read as {name}; "
                                  "rename one of them")
            return
        self.found[name] = found


# ---------------------------------------------------------------------------- JSON lines and plain objects
def _direction(obj: dict[str, Any]) -> str | None:
    direction = obj.get("direction")
    if direction in (HIGHER, LOWER):
        return str(direction)
    for key, higher in (("higher_is_better", True), ("lower_is_better", False)):
        flag = obj.get(key)
        if isinstance(flag, bool):
            return HIGHER if flag is higher else LOWER
    return None


def _is_record(obj: dict[str, Any]) -> bool:
    """``{"metric": name, "value": ..., "unit": ...}`` (or ``"name"`` for ``"metric"``), as from a custom script."""
    key = "metric" if "metric" in obj else "name"
    return isinstance(obj.get(key), str) and "value" in obj


def _record(obj: dict[str, Any], parsed: Parsed) -> None:
    unit = obj.get("unit")
    name = metric_name(obj["metric"] if "metric" in obj else obj["name"])
    parsed.found[name] = Found(finite(obj["value"]), unit if isinstance(unit, str) else "", _direction(obj),
                               obj["value"])


def _is_bmf(obj: Any) -> bool:
    """Every value an object of measures, each an object with a ``value``."""
    return (isinstance(obj, dict) and bool(obj) and all(
        isinstance(measures, dict) and measures
        and all(isinstance(m, dict) and "value" in m for m in measures.values())
        for measures in obj.values()))


def _flat(obj: dict[str, Any], parsed: Parsed) -> None:
    """``{name: value}``: numbers are metrics; nested objects and lists are not, and are skipped quietly."""
    for key, value in obj.items():
        if not isinstance(value, (dict, list)):
            parsed.found[metric_name(str(key))] = Found(finite(value), raw=value)


def _object(obj: dict[str, Any], parsed: Parsed) -> None:
    if _is_record(obj):
        _record(obj, parsed)
    elif _is_bmf(obj):
        _bmf(obj, parsed)
    else:
        _flat(obj, parsed)


def parse_json_lines(text: str, source: str) -> Parsed:
    """Lines that start with ``{`` are JSON objects, merged in order (a later value replaces an earlier one).

    Each may be ``{name: value, ...}``, a ``{"metric", "value", "unit"}`` record, or a
    BMF object; any other line is log output. ``source`` names the text in errors.

    Raises:
        Malformed: a line that starts with ``{`` is not one valid JSON object (named by its number).
    """
    parsed = Parsed(ResultFormat.JSON_LINES)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = loads(line)
        except Undecodable as exc:
            why = exc.why if exc.column is None else f"{exc.why} at column {exc.column}"
            raise Malformed(f"{source} line {number} looks like JSON but is not valid ({why}): "
                            f"{excerpt(line)}") from None
        _object(obj, parsed)
    return parsed


def _json_file(obj: Any, parsed: Parsed) -> None:
    """A whole JSON document of metrics: an object, or a list of ``{"name"|"metric", "value", "unit"}`` records."""
    if isinstance(obj, list) and obj and all(isinstance(r, dict) and _is_record(r) for r in obj):
        for record in obj:
            _record(record, parsed)
        return
    if not isinstance(obj, dict):
        raise Malformed(f"must hold a JSON object of metrics, not a {type(obj).__name__}")
    _object(obj, parsed)


# ---------------------------------------------------------------------------- Bencher Metric Format
#: Bencher's built-in measures: unit and better direction.
_BMF_MEASURES = {"latency": ("ns", LOWER), "throughput": ("ops/s", HIGHER), "file-size": ("B", LOWER),
                 "build-time": ("s", LOWER)}


def _bmf(obj: Any, parsed: Parsed) -> None:
    """``{benchmark: {measure: {value, lower_value?, upper_value?}}}`` -> ``<benchmark>.<measure>`` = value."""
    if not isinstance(obj, dict):
        raise Malformed(f"must be a JSON object of benchmarks, not a {type(obj).__name__}")
    for bench, measures in obj.items():
        if isinstance(measures, list):
            raise Malformed(f"benchmark {excerpt(bench, 60)!r} holds a list (Bencher's form with parameters), "
                            "which is not read; print one object of measures per benchmark")
        if not isinstance(measures, dict):
            raise Malformed(f"benchmark {excerpt(bench, 60)!r} must map measure names to objects, "
                            f"not hold a {type(measures).__name__}")
        for measure, m in measures.items():
            if not isinstance(m, dict) or "value" not in m:
                raise Malformed(f"{excerpt(bench, 60)!r} measure {excerpt(measure, 40)!r} must be an object "
                                'with a "value"')
            unit, direction = _BMF_MEASURES.get(measure, ("", None))
            parsed.add((bench, measure), Found(finite(m["value"]), unit, direction, m["value"]))


# ---------------------------------------------------------------------------- Google Benchmark
_GB_TIMES = ("real_time", "cpu_time")
_GB_RATES = {"items_per_second": "items/s", "bytes_per_second": "B/s"}
_GB_NOT_COUNTERS = frozenset({
    "name", "run_name", "run_type", "family_index", "per_family_instance_index", "repetitions", "repetition_index",
    "threads", "iterations", "time_unit", "aggregate_name", "aggregate_unit", "error_occurred", "error_message",
    "label", "big_o", "rms", *_GB_TIMES, *_GB_RATES,
})


def _benchmarks(obj: Any, what: str, hint: str) -> list[dict[str, Any]]:
    if not isinstance(obj, dict) or not isinstance(obj.get("benchmarks"), list):
        keys = ", ".join(sorted(map(str, obj))) if isinstance(obj, dict) else f"a {type(obj).__name__}"
        raise Malformed(f"not {what}: no \"benchmarks\" list (found: {excerpt(keys or 'an empty object', 120)}); "
                        f"{hint}")
    entries = obj["benchmarks"]
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise Malformed(f"benchmarks[{index}] is not an object with a name")
    return entries


def _gb_measures(entry: dict[str, Any]) -> dict[str, Found]:
    time_unit = entry.get("time_unit")
    unit = time_unit if isinstance(time_unit, str) else "ns"
    out = {k: Found(finite(entry[k]), unit, LOWER, entry[k]) for k in _GB_TIMES if k in entry}
    out |= {k: Found(finite(entry[k]), u, HIGHER, entry[k]) for k, u in _GB_RATES.items() if k in entry}
    out |= {k: Found(finite(v), raw=v) for k, v in entry.items()
            if k not in _GB_NOT_COUNTERS and finite(v) is not None}  # user counters
    return out


def _median_of(runs: list[dict[str, Found]]) -> dict[str, Found]:
    """Per measure, the median over a benchmark's repetitions (the measures every repetition has)."""
    medians: dict[str, Found] = {}
    for key, first in runs[0].items():
        values = [v for r in runs if key in r and (v := r[key].value) is not None]
        if len(values) == len(runs):
            medians[key] = Found(statistics.median(values), first.unit, first.direction)
    return medians


def _google_benchmark(obj: Any, parsed: Parsed) -> None:
    """``benchmarks[]``: one run per benchmark, or with ``--benchmark_repetitions`` its median.

    With repetitions, the ``median`` aggregate Google Benchmark computed is used; without
    one (older versions, or aggregates not reported), the median of the repetitions.
    Benchmarks that reported an error are skipped, with its message.
    """
    entries = _benchmarks(obj, "Google Benchmark JSON", "run the program with --benchmark_format=json "
                                                       "(or --benchmark_out=FILE --benchmark_out_format=json)")
    runs: dict[str, list[dict[str, Any]]] = {}
    aggregates: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in entries:
        name = entry["run_name"] if isinstance(entry.get("run_name"), str) else entry["name"]
        if entry.get("error_occurred"):
            parsed.skipped[metric_name(name)] = f"Google Benchmark error: {entry.get('error_message') or '?'}"
            continue
        if entry.get("run_type") == "aggregate":
            aggregates.setdefault(name, {})[str(entry.get("aggregate_name"))] = entry
            runs.setdefault(name, [])
        else:
            runs.setdefault(name, []).append(entry)
    for name, iterations in runs.items():
        aggs = aggregates.get(name, {})
        if "median" in aggs:
            measures = _gb_measures(aggs["median"])
        elif len(iterations) == 1:
            measures = _gb_measures(iterations[0])
        elif iterations:
            measures = _median_of([_gb_measures(e) for e in iterations])
        elif "mean" in aggs:
            measures = _gb_measures(aggs["mean"])
        else:
            parsed.skipped[metric_name(name)] = "only spread aggregates reported (no run, no median or mean)"
            continue
        for measure, found in measures.items():
            parsed.add((name, measure), found)


# ---------------------------------------------------------------------------- pytest-benchmark
_PYTEST_TIMES = ("min", "max", "mean", "median", "stddev", "iqr", "q1", "q3")


def _pytest_benchmark(obj: Any, parsed: Parsed) -> None:
    """``benchmarks[].stats``: times in seconds (lower is better) and ``ops`` (per second, higher).

    Named by the test's ``name`` (``test_sort[10]``), or its ``fullname`` where two files
    have a test of the same name. Numbers in ``extra_info`` are reported too.
    """
    entries = _benchmarks(obj, "pytest-benchmark JSON", "run pytest with --benchmark-json=PATH")
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["name"]] = counts.get(entry["name"], 0) + 1
    for entry in entries:
        name = entry["name"] if counts[entry["name"]] == 1 else str(entry.get("fullname") or entry["name"])
        stats = entry.get("stats")
        if not isinstance(stats, dict):
            raise Malformed(f"benchmark {excerpt(name, 60)!r} has no stats object")
        for key in _PYTEST_TIMES:
            if key in stats:
                parsed.add((name, key), Found(finite(stats[key]), "s", LOWER, stats[key]))
        if "ops" in stats:
            parsed.add((name, "ops"), Found(finite(stats["ops"]), "ops/s", HIGHER, stats["ops"]))
        extra = entry.get("extra_info")
        for key, value in (extra.items() if isinstance(extra, dict) else ()):
            if finite(value) is not None:
                parsed.add((name, str(key)), Found(finite(value), raw=value))


# ---------------------------------------------------------------------------- fio
_FIO_DIRECTIONS = ("read", "write", "trim")
_FIO_PERCENTILES = ("50.000000", "90.000000", "95.000000", "99.000000", "99.900000")


def _percentile_name(key: str) -> str:
    number = key.rstrip("0").rstrip(".")
    return "p" + number.replace(".", "_")


def _fio_direction(stats: dict[str, Any]) -> Iterable[tuple[str, Found]]:
    yield "iops", Found(finite(stats.get("iops")), "IO/s", HIGHER, stats.get("iops"))
    yield "bw", Found(finite(stats.get("bw")), "KiB/s", HIGHER, stats.get("bw"))
    for lat in ("lat_ns", "clat_ns", "slat_ns"):
        block = stats.get(lat)
        if not isinstance(block, dict) or not block.get("N", 1):
            continue  # slat is empty for synchronous engines
        if "mean" in block:
            yield f"{lat}.mean", Found(finite(block["mean"]), "ns", LOWER, block["mean"])
        percentiles = block.get("percentile")
        if not isinstance(percentiles, dict):
            continue
        for key in _FIO_PERCENTILES:
            if key in percentiles:
                yield f"{lat}.{_percentile_name(key)}", Found(finite(percentiles[key]), "ns", LOWER, percentiles[key])


def _fio(obj: Any, parsed: Parsed) -> None:
    """``jobs[]``: per job and direction with I/O, ``iops`` (IO/s), ``bw`` (KiB/s), latencies in ns.

    ``<jobname>.read.iops``, ``<jobname>.write.clat_ns.p99``; several jobs of one name
    (``numjobs`` without ``group_reporting``) are ``<jobname>-1``, ``<jobname>-2``, ...
    Needs fio 3 (``*_ns`` latencies). A job that reported an error is skipped.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("jobs"), list):
        keys = ", ".join(sorted(map(str, obj))) if isinstance(obj, dict) else f"a {type(obj).__name__}"
        raise Malformed(f"not fio JSON: no \"jobs\" list (found: {excerpt(keys, 120)}); "
                        "run fio with --output-format=json")
    jobs = obj["jobs"]
    names = [j.get("jobname") if isinstance(j, dict) else None for j in jobs]
    if not all(isinstance(n, str) for n in names):
        raise Malformed("every fio job must be an object with a jobname")
    seen: dict[str, int] = {}
    for job, jobname in zip(jobs, names, strict=True):
        assert isinstance(jobname, str)
        name = jobname
        if names.count(jobname) > 1:
            seen[jobname] = seen.get(jobname, 0) + 1
            name = f"{jobname}-{seen[jobname]}"
        if job.get("error"):
            parsed.skipped[metric_name(name)] = f"fio job error {job['error']}"
            continue
        for direction in _FIO_DIRECTIONS:
            stats = job.get(direction)
            if isinstance(stats, dict) and (stats.get("total_ios") or stats.get("io_bytes")):
                for measure, found in _fio_direction(stats):
                    parsed.add((name, direction, *measure.split(".")), found)


# ---------------------------------------------------------------------------- documents and detection
_READERS = {ResultFormat.BMF: _bmf, ResultFormat.GOOGLE_BENCHMARK: _google_benchmark,
            ResultFormat.PYTEST_BENCHMARK: _pytest_benchmark, ResultFormat.FIO: _fio,
            ResultFormat.JSON_FILE: _json_file}


def detect_document(obj: Any) -> ResultFormat:
    """Which tool wrote this JSON document, from keys only that tool writes; JSON_FILE when none.

    Google Benchmark: ``benchmarks`` and ``context``; pytest-benchmark: ``benchmarks`` and
    ``machine_info``; fio: ``jobs`` and ``fio version``; BMF: every value an object of
    measures each holding a ``value``. Anything else is a plain object of metrics.
    """
    if isinstance(obj, dict):
        if isinstance(obj.get("benchmarks"), list) and isinstance(obj.get("context"), dict):
            return ResultFormat.GOOGLE_BENCHMARK
        if isinstance(obj.get("benchmarks"), list) and "machine_info" in obj:
            return ResultFormat.PYTEST_BENCHMARK
        if isinstance(obj.get("jobs"), list) and "fio version" in obj:
            return ResultFormat.FIO
        if _is_bmf(obj):
            return ResultFormat.BMF
    return ResultFormat.JSON_FILE


def parse_document(fmt: ResultFormat, obj: Any) -> Parsed:
    """Read a decoded JSON document as format ``fmt`` (BMF, Google Benchmark, pytest-benchmark, fio, or JSON_FILE).

    Raises:
        Malformed: the document is not of that format (the message says what is missing).
    """
    parsed = Parsed(fmt)
    _READERS[fmt](obj, parsed)
    return parsed


# ---------------------------------------------------------------------------- regex over text
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?([eE][+-]?\d+)?$")


def _number(text: str) -> float | None:
    text = text.strip()
    if _GROUPED.match(text):
        text = text.replace(",", "")
    try:
        return finite(float(text))
    except ValueError:
        return None


def parse_regex(text: str, patterns: list[re.Pattern[str]]) -> Parsed:
    """Search every pattern in every line; each named group that matched is a metric (a later line wins).

    A group's text is read as a number (``1,234.5`` with thousands separators too); text
    that is not a number is reported as such, not skipped.
    """
    parsed = Parsed(ResultFormat.REGEX)
    for line in text.splitlines():
        for pattern in patterns:
            match = pattern.search(line)
            if match:
                for name, value in match.groupdict().items():
                    if value is not None:
                        parsed.found[metric_name(name)] = Found(_number(value), raw=value)
    return parsed
