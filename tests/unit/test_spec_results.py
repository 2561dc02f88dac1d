"""Result parsing: recorded real outputs of the benchmark images' scripts, and broken ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchfarm.errors import BenchmarkFailedError
from benchfarm.spec.loader import load_spec_data, load_spec_file
from benchfarm.spec.results import parse_results

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "spec"


def lines_spec(*metrics: str):
    return load_spec_data({"name": "j", "image": "i",
                           "results": {"format": "json-lines", "metrics": {m: {} for m in metrics}}})


def file_spec(*metrics: str, path: str = "/results/result.json"):
    return load_spec_data({"name": "j", "image": "i",
                           "results": {"format": "json-file", "path": path, "metrics": {m: {} for m in metrics}}})


def test_recorded_sysbench_output_with_the_cpu_example():
    spec = load_spec_file(REPO / "examples" / "cpu-sysbench.yaml")
    stdout = (FIXTURES / "sysbench-stdout.txt").read_text()
    assert parse_results(spec, stdout, {}) == {"events_per_second": 4481.64, "latency_avg_ms": 0.22}


def test_recorded_stream_output_with_the_memory_example():
    spec = load_spec_file(REPO / "examples" / "memory-stream.yaml")
    got = parse_results(spec, (FIXTURES / "stream-stdout.txt").read_text(), {})
    assert got == {"copy_mb_s": 39021.3, "scale_mb_s": 47032.8, "add_mb_s": 46479.2, "triad_mb_s": 55252.7}


def test_recorded_fio_result_file_with_the_disk_example():
    spec = load_spec_file(REPO / "examples" / "disk-fio.yaml")
    files = {"/results/result.json": (FIXTURES / "fio-result.json").read_bytes(), "/results/fio.json": b"{}"}
    got = parse_results(spec, "", files)
    assert got == {"read_iops": 14330.339321, "write_iops": 6109.780439, "read_lat_mean_us": 62.553948047,
                   "write_lat_mean_us": 4.2655784059999995}


def test_the_noop_example_reads_its_own_command_output():
    spec = load_spec_file(REPO / "examples" / "noop.yaml")
    assert spec.command == ["sh", "-c", "echo '{\"value\": 1}'"]
    assert parse_results(spec, '{"value": 1}\n', {}) == {"value": 1.0}


@pytest.mark.parametrize("stdout,expected", [
    ('{"a": 1}\n', {"a": 1.0}),
    ('starting\n{"a": 1, "b": 2}\nprogress 50%\n{"a": 3}\ndone\n', {"a": 3.0, "b": 2.0}),  # merged, later wins
    ('   {"a": 1.5}   \r\n', {"a": 1.5}),
    ('{"a": 1, "note": "text", "ok": true, "nested": {"x": 1}}\n', {"a": 1.0}),
    ('[1, 2]\n{"a": 2}\n', {"a": 2.0}),  # only lines starting with '{' are results
])
def test_json_lines(stdout, expected):
    undeclared = load_spec_data({"name": "j", "image": "i"})
    assert parse_results(undeclared, stdout, {}) == expected
    assert parse_results(lines_spec("a"), stdout, {}) == {"a": expected["a"]}  # declared: only those


def test_without_declared_metrics_every_finite_number_is_kept():
    spec = load_spec_data({"name": "j", "image": "i"})
    got = parse_results(spec, '{"a": 1, "b": "x", "c": true, "d": NaN, "e": 2.5}\n{"f": Infinity}\n', {})
    assert got == {"a": 1.0, "e": 2.5}


@pytest.mark.parametrize("spec,stdout,files,message", [
    (lines_spec("a"), "", {}, "metric a not found in stdout (JSON lines) (it reported: nothing)"),
    (lines_spec("a", "b"), '{"c": 1}\n', {}, "metrics a, b not found in stdout (JSON lines) (it reported: c)"),
    (lines_spec("a"), 'log\n{"a": 1,\n', {}, "stdout line 2 looks like JSON but is not valid"),
    (lines_spec("a"), '{"a": 1}\n{"a": 2, "b"\n', {}, 'stdout line 2 looks like JSON but is not valid'),
    (lines_spec("a"), '{"a": "fast"}\n', {}, "not finite numbers in stdout (JSON lines): a='fast'"),
    (lines_spec("a"), '{"a": NaN}\n', {}, "not finite numbers"),
    (lines_spec("a"), '{"a": true}\n', {}, "a=True"),
    (file_spec("a"), "", {}, "wrote no results file /results/result.json (files in /results: none)"),
    (file_spec("a"), "", {"/results/other.json": b"{}"}, "(files in /results: /results/other.json)"),
    (file_spec("a"), "", {"/results/result.json": b'{\n"a": 1,\n}'}, "/results/result.json is not valid JSON: "),
    (file_spec("a"), "", {"/results/result.json": b"[1]"}, "must hold a JSON object of metrics, not a list"),
    (file_spec("a"), "", {"/results/result.json": b"\xff\xfe"}, "not UTF-8 JSON"),
    (file_spec("a"), "", {"/results/result.json": b'{"b": 1}'}, "metric a not found in /results/result.json"),
])
def test_bad_results_name_what_is_wrong(spec, stdout, files, message):
    with pytest.raises(BenchmarkFailedError) as exc:
        parse_results(spec, stdout, files)
    assert message in exc.value.message, exc.value.message


HUGE = "9" * 5000  # past Python's int max-str-digits (4300): json.loads raises a bare ValueError
LARGE = "9" * 400  # a valid int, too large for a float


@pytest.mark.parametrize("spec,stdout,files,message", [
    (lines_spec("a"), f'starting\n{{"a": {HUGE}}}\n', {},
     "stdout line 2 looks like JSON but is not valid (a number with more than 4300 digits"),
    (file_spec("a"), "", {"/results/result.json": f'{{"a": {HUGE}}}'.encode()},
     "/results/result.json is not valid JSON: a number with more than 4300 digits"),
    (lines_spec("a"), '{"a": ' + "[" * 100_000 + "\n", {}, "stdout line 1 looks like JSON but is not valid (nested"),
    (lines_spec("a"), f'{{"a": {LARGE}}}\n', {}, "not finite numbers in stdout (JSON lines): a=999"),
    (file_spec("a"), "", {"/results/result.json": f'{{"a": -{LARGE}}}'.encode()},
     "not finite numbers in /results/result.json: a=-999"),
])
def test_what_json_loads_refuses_is_a_benchmark_error_naming_where(spec, stdout, files, message):
    with pytest.raises(BenchmarkFailedError) as exc:
        parse_results(spec, stdout, files)
    assert message in exc.value.message, exc.value.message
    assert len(exc.value.message) < 300  # the digits are not echoed whole


def test_undeclared_metrics_skip_a_number_too_large_for_a_float():
    spec = load_spec_data({"name": "j", "image": "i"})
    assert parse_results(spec, f'{{"a": {LARGE}, "b": 2}}\n', {}) == {"b": 2.0}


def test_a_long_bad_line_is_shortened_in_the_error():
    with pytest.raises(BenchmarkFailedError) as exc:
        parse_results(lines_spec("a"), "{" + "x" * 500 + "\n", {})
    assert len(exc.value.message) < 200 and exc.value.message.endswith("...")


def test_a_configured_results_path_is_read():
    spec = file_spec("a", path="/results/sub/out.json")
    assert parse_results(spec, "", {"/results/sub/out.json": b'{"a": 7}'}) == {"a": 7.0}
