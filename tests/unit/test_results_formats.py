"""Result formats on recorded real outputs of each tool (tests/fixtures/results/README.md), and broken ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchfarm.errors import BenchmarkFailedError
from benchfarm.spec.loader import load_spec_data
from benchfarm.spec.result_formats import metric_name
from benchfarm.spec.results import MAX_UNDECLARED, extract, parse_results
from benchfarm.spec.units import UnitMismatch, convert

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "results"

SYSBENCH_PATTERNS = [r"events per second:\s+(?P<events_per_second>[\d.]+)", r"^\s+avg:\s+(?P<latency_avg_ms>[\d.]+)",
                     r"95th percentile:\s+(?P<latency_p95_ms>[\d.]+)"]
OPENSSL_PATTERN = (r"^sha256\s+(?P<sha256_16B>[\d.]+)k\s+(?P<sha256_64B>[\d.]+)k\s+(?P<sha256_256B>[\d.]+)k"
                   r"\s+(?P<sha256_1KiB>[\d.]+)k\s+(?P<sha256_8KiB>[\d.]+)k\s+(?P<sha256_16KiB>[\d.]+)k")


def spec(results: dict[str, Any] | None = None):
    return load_spec_data({"name": "j", "image": "i", "results": results or {}})


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


# ---------------------------------------------------------------------------- each format on its real output
# (results, fixture, read from a file?, format read, where, {metric: (value, unit, direction)}, metrics in all)
CASES = [
    ({"format": "google-benchmark"}, "google-benchmark/accumulate.json", False, "google-benchmark",
     "stdout (Google Benchmark JSON)",
     {"BM_StringCreation.real_time": (0.5567286020559875, "ns", "lower"),
      "BM_Accumulate_1024.cpu_time": (0.2938377409983652, "us", "lower"),
      "BM_Accumulate_65536.items_per_second": (3752211955.0881615, "items/s", "higher"),
      "BM_Accumulate_65536.bytes_per_second": (15008847820.352646, "B/s", "higher"),
      "BM_Accumulate_1024.elements": (1024.0, "", None)}, 12),
    ({}, "google-benchmark/accumulate-repetitions.json", False, "google-benchmark",
     "stdout (Google Benchmark JSON, detected)",  # Google Benchmark's own median of the 3 repetitions
     {"BM_Accumulate_65536.real_time": (40.31577168951262, "us", "lower"),
      "BM_Accumulate_65536.elements": (65536.0, "", None)}, 12),
    ({"path": "/results/gb.json"}, "google-benchmark/skip-with-error.json", True, "google-benchmark",
     "/results/gb.json (Google Benchmark JSON, detected)",
     {"BM_Ok.real_time": (0.6287093400824785, "ns", "lower")}, 2),
    ({}, "pytest-benchmark/tiny.json", False, "pytest-benchmark", "stdout (pytest-benchmark JSON, detected)",
     {"test_json_roundtrip.median": (1.0937999832094647e-05, "s", "lower"),
      "test_sort_10.ops": (5795757.513341329, "ops/s", "higher"),
      "test_sort_1000.stddev": (4.667369340488753e-07, "s", "lower")}, 27),
    ({"format": "pytest-benchmark", "path": "/results/bench.json"}, "pytest-benchmark/tiny.json", True,
     "pytest-benchmark", "/results/bench.json (pytest-benchmark JSON)",
     {"test_sort_1000.min": (4.128999989916338e-06, "s", "lower")}, 27),
    ({"format": "fio"}, "fio/randrw.json", False, "fio", "stdout (fio JSON)",
     {"randrw.read.iops": (10136.863137, "IO/s", "higher"), "randrw.write.bw": (40459.0, "KiB/s", "higher"),
      "randrw.read.clat_ns.mean": (87584.446043, "ns", "lower"),
      "randrw.read.clat_ns.p99": (317440.0, "ns", "lower"),
      "randrw.write.clat_ns.p99_9": (49920.0, "ns", "lower")}, 18),
    ({}, "fio/two-jobs-stdout.txt", False, "fio", "stdout (fio JSON, detected)",  # a log line before the JSON
     {"seqread.read.iops": (14438.561439, "IO/s", "higher"), "seqwrite.write.iops": (202712.287712, "IO/s", "higher")},
     18),
    ({"format": "fio"}, "fio/two-jobs-stdout.txt", False, "fio", "stdout (fio JSON)", {}, 18),
    ({}, "fio/numjobs.json", False, "fio", "stdout (fio JSON, detected)",
     {"rr-1.read.iops": (24803.196803, "IO/s", "higher"), "rr-2.read.iops": (24764.235764, "IO/s", "higher")}, 18),
    ({"format": "bmf"}, "bmf/report_latency.json", False, "bmf", "stdout (Bencher Metric Format)",
     {"tests_benchmark_a.latency": (3247.0, "ns", "lower"), "tests_benchmark_c.latency": (3361.0, "ns", "lower")}, 3),
    ({}, "bmf/report_dhat.json", False, "bmf", "stdout (Bencher Metric Format, detected)",
     {"bench_play_game.Total_Bytes": (662.0, "", None), "bench_play_game.Final_Blocks": (0.0, "", None)}, 6),
    ({"patterns": SYSBENCH_PATTERNS}, "regex/sysbench-cpu.txt", False, "regex", "stdout (regex)",
     {"events_per_second": (3127.86, "", None), "latency_avg_ms": (0.32, "", None),
      "latency_p95_ms": (0.35, "", None)}, 3),
    ({"format": "regex", "patterns": [OPENSSL_PATTERN], "path": "/results/speed.txt"},
     "regex/openssl-speed-sha256.txt", True, "regex", "/results/speed.txt (regex)",
     {"sha256_16B": (133423.41, "", None), "sha256_16KiB": (1813876.36, "", None)}, 6),
    ({}, "json-lines/byo-bench-sh.txt", False, "json-lines", "stdout (JSON lines)",
     {"sha256_throughput": (298.34, "MiB/s", "higher"), "elapsed": (214.519, "ms", "lower")}, 2),
    ({"format": "json-lines"}, "json-lines/byo-bench-sh.txt", False, "json-lines", "stdout (JSON lines)",
     {"elapsed": (214.519, "ms", "lower")}, 2),
    ({}, "../spec/sysbench-stdout.txt", False, "json-lines", "stdout (JSON lines)",
     {"events_per_second": (4481.64, "", None)}, 7),
    ({"format": "json-file"}, "../spec/fio-result.json", True, "json-file", "/results/result.json",
     {"read_iops": (14330.339321, "", None)}, 12),
]


@pytest.mark.parametrize(("results", "name", "as_file", "fmt", "where", "expected", "count"), CASES,
                         ids=[f"{c[1]}-{c[0].get('format', 'auto')}" for c in CASES])
def test_each_format_reads_its_real_output(results, name, as_file, fmt, where, expected, count):
    s = spec(results)
    text = fixture(name)
    files = {s.results.path or "": text.encode()} if as_file else {}
    got = extract(s.results, "" if as_file else text, files)
    assert (got.format, got.where, len(got.found)) == (fmt, where, count), sorted(got.found)
    for metric, (value, unit, direction) in expected.items():
        found = got.found[metric]
        assert (found.value, found.unit, found.direction) == (value, unit, direction), metric


def test_google_benchmark_errors_are_left_out_and_named_when_asked_for():
    s = spec({"metrics": {"BM_NeedsDevice.real_time": {"unit": "ns", "direction": "lower"}}})
    with pytest.raises(BenchmarkFailedError) as exc:
        parse_results(s, fixture("google-benchmark/skip-with-error.json"), {})
    assert exc.value.message == (
        "metric BM_NeedsDevice.real_time not found in stdout (Google Benchmark JSON, detected) "
        "(it reported: BM_Ok.cpu_time, BM_Ok.real_time); "
        "left out: BM_NeedsDevice (Google Benchmark error: no device found)")


def test_repetitions_without_aggregates_give_the_median_of_the_runs():
    doc = json.loads(fixture("google-benchmark/accumulate-repetitions.json"))
    doc["benchmarks"] = [b for b in doc["benchmarks"] if b["run_type"] == "iteration"]
    runs = [b["real_time"] for b in doc["benchmarks"] if b["run_name"] == "BM_StringCreation"]
    got = parse_results(spec({"format": "google-benchmark"}), json.dumps(doc), {})
    assert len(runs) == 3 and got["BM_StringCreation.real_time"] == sorted(runs)[1]


# ---------------------------------------------------------------------------- the spec's selection
def test_declared_metrics_are_converted_to_the_declared_unit():
    s = spec({"metrics": {"BM_Accumulate_1024.real_time": {"unit": "ns", "direction": "lower"},
                          "BM_Accumulate_1024.bytes_per_second": {"unit": "MiB/s", "direction": "higher"},
                          "BM_Accumulate_1024.items_per_second": {"unit": "Mitems/s", "direction": "higher"}}})
    got = parse_results(s, fixture("google-benchmark/accumulate.json"), {})
    assert got == pytest.approx({"BM_Accumulate_1024.real_time": 316.77914615753877,
                                 "BM_Accumulate_1024.bytes_per_second": 13939666109.884737 / (1 << 20),
                                 "BM_Accumulate_1024.items_per_second": 3484916527.4711843})  # a label: as is


def test_fio_metrics_in_the_units_the_disk_example_uses():
    s = spec({"format": "fio", "metrics": {"randrw.read.iops": {"unit": "IO/s"},
                                           "randrw.read.clat_ns.p99": {"unit": "us", "direction": "lower"},
                                           "randrw.write.bw": {"unit": "MB/s"}}})
    got = parse_results(s, fixture("fio/randrw.json"), {})
    assert got == pytest.approx({"randrw.read.iops": 10136.863137, "randrw.read.clat_ns.p99": 317.44,
                                 "randrw.write.bw": 40459.0 * 1024 / 1e6})


def test_records_keep_their_own_direction_and_unit():
    s = spec({"metrics": {"sha256_throughput": {"unit": "MiB/s"}, "elapsed": {"unit": "s", "direction": "lower"}}})
    assert parse_results(s, fixture("json-lines/byo-bench-sh.txt"), {}) == pytest.approx(
        {"sha256_throughput": 298.34, "elapsed": 0.214519})


@pytest.mark.parametrize(("results", "name", "message"), [
    ({"metrics": {"BM_StringCreation.real_time": {"unit": "ns"}}}, "google-benchmark/accumulate.json",
     "BM_StringCreation.real_time is lower-is-better in stdout (Google Benchmark JSON, detected), but the spec "
     "says higher (results.metrics.BM_StringCreation.real_time.direction; the default is higher)"),
    ({"metrics": {"elapsed": {"unit": "ms"}}}, "json-lines/byo-bench-sh.txt", "elapsed is lower-is-better"),
    ({"metrics": {"randrw.read.iops": {"unit": "IO/s", "direction": "lower"}}}, "fio/randrw.json",
     "randrw.read.iops is higher-is-better"),
    ({"metrics": {"test_sort_10.mean": {"unit": "MB/s", "direction": "lower"}}}, "pytest-benchmark/tiny.json",
     "test_sort_10.mean is reported in s (a time), but the spec declares MB/s (a byte rate)"),
])
def test_a_unit_or_direction_contradicting_the_output_is_refused(results, name, message):
    with pytest.raises(BenchmarkFailedError) as exc:
        parse_results(spec(results), fixture(name), {})
    assert message in exc.value.message, exc.value.message


def test_a_missing_metric_lists_what_was_found_and_suggests_the_close_one():
    s = spec({"metrics": {"BM_Accumulate_1024.realtime": {"unit": "us", "direction": "lower"}}})
    with pytest.raises(BenchmarkFailedError) as exc:
        parse_results(s, fixture("google-benchmark/accumulate.json"), {})
    message = exc.value.message
    assert message.startswith("metric BM_Accumulate_1024.realtime not found in stdout (Google Benchmark JSON, "
                              "detected) (it reported: BM_Accumulate_1024.bytes_per_second, ")
    assert message.endswith("; did you mean BM_Accumulate_1024.real_time?")


def test_the_issue_s_refused_metric_lines_now_report():
    """Issue 14: a program printing {"metric", "value", "unit"} lines was refused."""
    stdout = ('{"metric": "ops", "value": 1520.5, "unit": "ops/s", "higher_is_better": true}\n'
              '{"metric": "p99", "value": 4.2, "unit": "ms", "higher_is_better": false}\n')
    s = spec({"format": "json-lines", "metrics": {"ops": {"unit": "ops/s"},
                                                  "p99": {"unit": "ms", "direction": "lower"}}})
    assert parse_results(s, stdout, {}) == {"ops": 1520.5, "p99": 4.2}


def test_many_found_names_are_cut_in_the_error():
    stdout = "".join(f'{{"m{i:03d}": {i}}}\n' for i in range(50))
    with pytest.raises(BenchmarkFailedError) as exc:
        parse_results(spec({"metrics": {"x": {}}}), stdout, {})
    assert "m029, ... (50 in all))" in exc.value.message and "m030" not in exc.value.message


def test_undeclared_metrics_are_capped():
    stdout = json.dumps({f"m{i}": i for i in range(MAX_UNDECLARED + 1)}) + "\n"
    with pytest.raises(BenchmarkFailedError, match=f"reported {MAX_UNDECLARED + 1} metrics; a job keeps at most"):
        parse_results(spec(), stdout, {})
    assert len(parse_results(spec(), json.dumps({f"m{i}": i for i in range(MAX_UNDECLARED)}), {})) == MAX_UNDECLARED


# ---------------------------------------------------------------------------- detection and shapes
@pytest.mark.parametrize(("stdout", "fmt", "expected"), [
    ('{"a": 1}\n', "json-lines", {"a": 1.0}),
    ('{\n  "a": 1,\n  "b": 2.5\n}\n', "json-file", {"a": 1.0, "b": 2.5}),  # a pretty-printed object
    ('log\n{\n  "a": 1\n}\ndone\n', "json-file", {"a": 1.0}),
    ('{"bench": {"latency": {"value": 5}}}\n', "bmf", {"bench.latency": 5.0}),  # BMF on one line
    ('{"bench": {"latency": {"value": 5}}}\n{"x": 1}\n', "json-lines", {"bench.latency": 5.0, "x": 1.0}),
    ('[{"name": "a", "unit": "ms", "value": 3}, {"name": "b", "value": 4}]', "json-file", {"a": 3.0, "b": 4.0}),
    ('{"metric": "t", "value": 2}\n{"metric": "t", "value": 3}\n', "json-lines", {"t": 3.0}),  # later wins
    ('{"a b": 1, "c/d": 2}\n', "json-lines", {"a_b": 1.0, "c_d": 2.0}),
    ("", "json-lines", {}),
    ("[1, 2]\n", "json-lines", {}),
])
def test_auto_detects_what_is_unambiguous(stdout, fmt, expected):
    got = extract(spec().results, stdout, {})
    assert got.format == fmt and {k: f.value for k, f in got.found.items()} == expected


@pytest.mark.parametrize(("raw", "name"), [
    (("BM_Accumulate/1024", "real_time"), "BM_Accumulate_1024.real_time"),
    (("test_sort[10]", "ops"), "test_sort_10.ops"),
    (("tests::benchmark_a", "latency"), "tests_benchmark_a.latency"),
    (("BM_x/8/threads:2", "cpu_time"), "BM_x_8_threads_2.cpu_time"),
    (("1st run",), "_1st_run"),
    (("a..b", "c."), "a.b.c"),
    (("[]",), "_"),
    (("x" * 200, "real_time"), "x" * 91 + "-"),
])
def test_metric_names(raw, name):
    got = metric_name(*raw)
    assert got.startswith(name) if name.endswith("-") else got == name
    assert len(got) <= 100


def test_two_benchmarks_of_one_name_are_both_left_out():
    doc = {"a/b": {"latency": {"value": 1}}, "a:b": {"latency": {"value": 2}}, "c": {"latency": {"value": 3}}}
    got = extract(spec({"format": "bmf"}).results, json.dumps(doc), {})
    assert list(got.found) == ["c.latency"]
    assert got.skipped == {"a_b.latency": "ambiguous: both 'a/b.latency' and 'a:b.latency' read as a_b.latency; "
                                          "rename one of them"}


def test_pytest_benchmark_uses_the_full_name_when_two_tests_share_one():
    doc = json.loads(fixture("pytest-benchmark/tiny.json"))
    twin = json.loads(json.dumps(doc["benchmarks"][0]))
    twin["fullname"] = "other/test_tiny.py::test_json_roundtrip"
    doc["benchmarks"].append(twin)
    got = extract(spec().results, json.dumps(doc), {})
    assert "test_tiny.py_test_json_roundtrip.mean" in got.found
    assert "other_test_tiny.py_test_json_roundtrip.mean" in got.found


def test_regex_reads_grouped_numbers_and_reports_words_as_not_numbers():
    s = spec({"patterns": [r"total: (?P<total>\S+)", r"rate: (?P<rate>\S+)"],
              "metrics": {"total": {}, "rate": {}}})
    assert parse_results(s, "total: 1,234,567.5\nrate: 2e3\n", {}) == {"total": 1234567.5, "rate": 2000.0}
    with pytest.raises(BenchmarkFailedError, match="not finite numbers in stdout \\(regex\\): rate='fast'"):
        parse_results(s, "total: 1\nrate: fast\n", {})


# ---------------------------------------------------------------------------- malformed outputs
@pytest.mark.parametrize(("results", "stdout", "files", "message"), [
    ({"format": "google-benchmark"}, fixture("pytest-benchmark/tiny.json")[:200], {},
     "stdout is not valid Google Benchmark JSON: "),
    ({"format": "google-benchmark"}, '{"context": {}}', {},
     'stdout: not Google Benchmark JSON: no "benchmarks" list (found: context); run the program with '
     "--benchmark_format=json"),
    ({"format": "google-benchmark"}, '{"context": {}, "benchmarks": [1]}', {}, "benchmarks[0] is not an object"),
    ({"format": "pytest-benchmark"}, fixture("fio/randrw.json"), {}, 'not pytest-benchmark JSON: no "benchmarks" '
     "list (found: disk_util, fio version, jobs, time, timestamp, timestamp_ms); run pytest with --benchmark-json"),
    ({"format": "pytest-benchmark"}, '{"benchmarks": [{"name": "t"}]}', {}, "benchmark 't' has no stats object"),
    ({"format": "fio"}, fixture("google-benchmark/accumulate.json"), {},
     'not fio JSON: no "jobs" list (found: benchmarks, context); run fio with --output-format=json'),
    ({"format": "fio"}, '{"jobs": [{"read": {}}]}', {}, "every fio job must be an object with a jobname"),
    ({"format": "fio"}, "fio: failed to open file\n", {}, "stdout is not valid fio JSON: no line starts with '{'"),
    ({"format": "bmf"}, '{"b": {"latency": 3}}', {}, "'b' measure 'latency' must be an object with a \"value\""),
    ({"format": "bmf"}, '{"b": [{"measures": {}}]}', {}, "benchmark 'b' holds a list (Bencher's form with parameters)"),
    ({"format": "bmf"}, '{"b": 1}', {}, "benchmark 'b' must map measure names to objects, not hold a int"),
    ({"format": "bmf"}, "[]", {}, "must be a JSON object of benchmarks, not a list"),
    ({"format": "bmf", "path": "/results/bmf.json"}, "", {"/results/bmf.json": b'{"b": {"latency": {"value": 1}}'},
     "/results/bmf.json is not valid Bencher Metric Format: Expecting ',' delimiter at line 1 column 32"),
    ({"format": "bmf", "path": "/results/bmf.json"}, "", {}, "wrote no results file /results/bmf.json"),
    ({"format": "regex", "patterns": ["(?P<a>x)"], "path": "/results/o.txt"}, "", {"/results/o.txt": b"\xff"},
     "/results/o.txt is not UTF-8 text"),
    ({"metrics": {"a": {}}}, 'log\n{\n  "a": 1,\n}\n', {}, "stdout line 2 looks like JSON but is not valid"),
    ({"format": "json-lines"}, '{"metric": "x", "value": 1}\n{"metric": "y", "value": 2\n', {},
     "stdout line 2 looks like JSON but is not valid (Expecting ',' delimiter at column 27)"),
])
def test_malformed_outputs_say_what_is_wrong(results, stdout, files, message):
    with pytest.raises(BenchmarkFailedError) as exc:
        parse_results(spec(results), stdout, files)
    assert message in exc.value.message, exc.value.message
    assert exc.value.hint


def test_huge_numbers_in_every_json_format_are_errors_not_crashes():
    huge = "9" * 5000
    for results in ({"format": "google-benchmark"}, {"format": "fio"}, {"format": "bmf"}, {}):
        with pytest.raises(BenchmarkFailedError, match="a number with more than 4300 digits") as exc:
            parse_results(spec(results), f'{{"x": {huge}}}', {})
        assert len(exc.value.message) < 200
    large = "9" * 400  # a valid int, too large for a float: not a value
    s = spec({"format": "bmf", "metrics": {"b.latency": {"unit": "ns", "direction": "lower"}}})
    with pytest.raises(BenchmarkFailedError) as exc:
        parse_results(s, f'{{"b": {{"latency": {{"value": {large}}}}}}}', {})
    assert "not finite numbers in stdout (Bencher Metric Format): b.latency=999" in exc.value.message


# ---------------------------------------------------------------------------- units
@pytest.mark.parametrize(("value", "reported", "declared", "expected"), [
    (1500.0, "ns", "us", 1.5), (2.0, "s", "ms", 2000.0), (1.0, "µs", "ns", 1000.0), (3.0, "ms", "ms", 3.0),
    (1024.0, "KiB/s", "MiB/s", 1.0), (1e6, "B/s", "MB/s", 1.0), (5.0, "items/s", "ops/s", 5.0),
    (7.0, "", "ms", 7.0), (7.0, "ms", "", 7.0), (2.0, "seconds", "ms", 2000.0), (1.0, "GiB", "MiB", 1024.0),
])
def test_units_of_one_quantity_convert_and_labels_pass(value, reported, declared, expected):
    assert convert(value, reported, declared) == pytest.approx(expected)


def test_units_of_different_quantities_do_not_convert():
    with pytest.raises(UnitMismatch, match=r"reported in ns \(a time\), but the spec declares MB/s \(a byte rate\)"):
        convert(1.0, "ns", "MB/s")
