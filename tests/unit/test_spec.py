"""Job spec validation: table-driven good and bad specs, errors naming the field and, for files, the line."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from benchfarm.errors import SpecError
from benchfarm.spec.loader import SpecValidationError, index_lines, load_spec_data, load_spec_file, load_spec_text
from benchfarm.spec.model import JobSpec
from benchfarm.spec.schema import job_spec_schema, job_spec_schema_text

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "spec"
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
MINIMAL = {"name": "cpu", "image": "benchfarm/sysbench:latest"}


def problems_of(data: dict) -> dict[str, str]:
    with pytest.raises(SpecValidationError) as exc:
        load_spec_data(data)
    return {p.path: p.message for p in exc.value.problems}


def test_defaults_are_the_documented_ones():
    spec = load_spec_data(MINIMAL)
    assert (spec.warmup, spec.repetitions, spec.fresh_container_per_repetition, spec.timeout_s) == (1, 5, True, 600)
    assert spec.network == "none" and spec.cap_add == [] and spec.priority == 5 and spec.command is None
    assert spec.results.format == "auto" and spec.results.path is None and spec.results.patterns == []
    assert spec.thresholds.max_regression_pct == 5.0 and spec.thresholds.per_metric == {}
    assert spec.resources.memory_bytes is None and spec.requirements.min_memory_bytes is None
    assert spec.adaptive is None and spec.devices == [] and spec.labels == {}


def test_a_full_spec_round_trips_through_its_json_form():
    data = {
        **MINIMAL, "command": ["sysbench", "cpu", "run"], "args": ["--time=5"], "env": {"A": "1"},
        "warmup": 0, "repetitions": 3, "fresh_container_per_repetition": False, "timeout_s": 30,
        "adaptive": {"target_cv": 0.02, "min_repetitions": 3, "max_repetitions": 20},
        "resources": {"cpus": 1.5, "cpuset": "0-1", "memory": "2g"},
        "requirements": {"pool": "big", "cpu_vendor": "AuthenticAMD", "cpu_model": "EPYC", "min_memory": "64g",
                         "gpu": {"count": 2, "model": "H100"}, "fpga": {"count": 1, "vendor": "xilinx"}},
        "devices": [{"host_path": "/dev/xclmgmt1", "container_path": "/dev/fpga0", "permissions": "rw"}],
        "network": "bridge", "cap_add": ["SYS_NICE"],
        "results": {"format": "json-file", "path": "/results/out.json",
                    "metrics": {"eps": {"unit": "events/s", "direction": "higher"}}},
        "labels": {"git_ref": "main", "ci_build": 42, "ratio": 0.5, "nightly": True}, "priority": 9,
        "thresholds": {"max_regression_pct": 3, "per_metric": {"eps": 2.5}},
    }
    spec = load_spec_data(data)
    assert spec.resources.memory_bytes == 2 << 30 and spec.requirements.min_memory_bytes == 64 << 30
    assert spec.measured_repetitions_max == 20
    again = JobSpec.model_validate(spec.model_dump(mode="json"))  # what the worker does with a stored job
    assert again == spec


@pytest.mark.parametrize("patch,expected", [
    ({"env": {"THREADS": 4, "RATIO": 0.5}}, {"env": {"THREADS": "4", "RATIO": "0.5"}}),
    ({"cap_add": ["sys_nice", "CAP_NET_RAW", "SYS_NICE"]}, {"cap_add": ["SYS_NICE", "NET_RAW"]}),
    ({"resources": {"cpuset": "0 - 3, 6"}}, {"resources": {"cpuset": "0-3,6"}}),
    ({"devices": [{"host_path": "/dev/fpga0"}]},
     {"devices": [{"host_path": "/dev/fpga0", "container_path": "/dev/fpga0", "permissions": "rwm"}]}),
    ({"labels": {"build": 42, "ref": "main", "ok": True, "x": 1.5}},
     {"labels": {"build": 42, "ref": "main", "ok": True, "x": 1.5}}),
    ({"image": "registry.local:5000/benchfarm/sysbench@sha256:" + "a" * 64}, {}),
])
def test_values_are_normalised(patch, expected):
    dumped = load_spec_data({**MINIMAL, **patch}).model_dump(mode="json")
    for key, value in expected.items():
        if isinstance(value, dict) and key in ("resources",):
            assert {k: dumped[key][k] for k in value} == value
        else:
            assert dumped[key] == value


@pytest.mark.parametrize("patch,field,message", [
    ({"repetitions": 0}, "repetitions", "greater than or equal to 1 (got 0)"),
    ({"repetitions": True}, "repetitions", "valid integer (got True)"),
    ({"repetitions": "5"}, "repetitions", "valid integer"),
    ({"warmup": -1}, "warmup", "greater than or equal to 0"),
    ({"timeout_s": 0}, "timeout_s", "greater than 0"),
    ({"priority": 10}, "priority", "less than or equal to 9"),
    ({"name": "Has Spaces"}, "name", "lower-case"),
    ({"name": "trailing-"}, "name", "lower-case"),
    ({"image": "Benchfarm/Sysbench"}, "image", "repository names are lower case"),
    ({"image": "bench farm"}, "image", "contains whitespace"),
    ({"image": "x@sha256:abc"}, "image", "name@sha256:<64 hex digits>"),
    ({"image": "x@sha256:" + "a" * 40}, "image", "64 hex digits, this one has 40"),
    ({"command": "sysbench cpu run"}, "command", "write it as a list of arguments"),
    ({"env": {"A": True}}, "env.A", "is not text; quote it"),
    ({"env": {"MY-VAR": "1"}}, "env", "not an environment variable name"),
    ({"resources": {"memory": "lots"}}, "resources.memory", "'lots' is not a size (use e.g. 512m or 2g)"),
    ({"resources": {"memory": True}}, "resources.memory", "True is not a size"),
    ({"resources": {"memory": 0}}, "resources.memory", "must be positive"),
    ({"resources": {"cpus": 0}}, "resources.cpus", "greater than 0"),
    ({"resources": {"cpuset": "0-"}}, "resources.cpuset", "is not a cpuset (use e.g. 0-3,6)"),
    ({"resources": {"cpuset": "3-1"}}, "resources.cpuset", "runs backwards"),
    ({"requirements": {"cpu_model": "EPYC("}}, "requirements.cpu_model", "not a valid regular expression"),
    ({"requirements": {"gpu": {"count": 0}}}, "requirements.gpu.count", "greater than or equal to 1"),
    ({"requirements": {"gpu": {"model": "H100["}}}, "requirements.gpu.model", "not a valid regular expression"),
    ({"requirements": {"fpga": {"count": 0}}}, "requirements.fpga.count", "greater than or equal to 1"),
    ({"requirements": {"fpga": {"model": "*u250"}}}, "requirements.fpga.model", "not a valid regular expression"),
    ({"requirements": {"min_memory": "2 parsecs"}}, "requirements.min_memory", "is not a size"),
    ({"devices": [{"host_path": "/etc/passwd"}]}, "devices.0.host_path", "not a device path"),
    ({"devices": [{"host_path": "/dev/../etc/passwd"}]}, "devices.0.host_path", "not a device path"),
    ({"devices": [{"host_path": "/dev/fpga0", "permissions": "rwx"}]}, "devices.0.permissions", "r, w and m"),
    ({"devices": [{"container_path": "/dev/x"}]}, "devices.0.host_path", "required field is missing"),
    ({"network": "internet"}, "network", "'none', 'bridge' or 'host' (got 'internet')"),
    ({"cap_add": ["SYS_NICEE"]}, "cap_add", "not a Linux capability (did you mean SYS_NICE"),
    ({"results": {"format": "xml"}}, "results.format", "'auto', 'json-lines', 'json-file', 'bmf', 'google-benchmark', "
                                                       "'pytest-benchmark', 'fio' or 'regex' (got 'xml')"),
    ({"results": {"format": "regex"}}, "results", "format regex needs patterns"),
    ({"results": {"patterns": ["events: ([0-9.]+)"]}}, "results.patterns", "has no named group"),
    ({"results": {"patterns": ["(?P<eps>[0-9.]+"]}}, "results.patterns", "not a valid regular expression"),
    ({"results": {"format": "fio", "patterns": ["(?P<eps>x)"]}}, "results", "patterns are for format regex, not fio"),
    ({"results": {"format": "json-file", "path": "/tmp/r.json"}}, "results.path", "under /results/"),
    ({"results": {"path": "/results/../etc/x"}}, "results.path", "under /results/"),
    ({"results": {"metrics": {"eps": {"direction": "up"}}}}, "results.metrics.eps.direction", "'higher' or 'lower'"),
    ({"results": {"metrics": {"has space": {}}}}, "results.metrics", "not a metric name"),
    ({"labels": {"tags": ["a", "b"]}}, "labels.tags", "a label is a string, a number or a boolean"),
    ({"thresholds": {"max_regression_pct": -1}}, "thresholds.max_regression_pct", "greater than or equal to 0"),
    ({"results": {"metrics": {"eps": {}}}, "thresholds": {"per_metric": {"lat": 3}}},
     "thresholds.per_metric.lat", "'lat' is not a metric in results.metrics (eps)"),
    ({"adaptive": {"min_repetitions": 3}}, "adaptive", "give exactly one of target_cv (e.g. 0.02) and detect_change"),
    ({"adaptive": {"target_cv": 0.05, "detect_change_pct": 10}}, "adaptive", "give exactly one of target_cv"),
    ({"adaptive": {"detect_change_pct": 7}}, "adaptive.detect_change_pct",
     "no row for catching a 7% change at a 5% threshold"),
    ({"adaptive": {"target_cv": 0.05, "min_repetitions": 10, "max_repetitions": 5}}, "adaptive",
     "max_repetitions (5) must be at least min_repetitions (10)"),
    ({"reps": 3}, "reps", "unknown field 'reps' (did you mean results, repetitions"),
    ({"resources": {"cpuz": 1}}, "resources.cpuz", "unknown field 'cpuz' (did you mean cpus, cpuset?)"),
    ({"results": {"metrics": {"eps": {"unitt": "x"}}}}, "results.metrics.eps.unitt", "did you mean unit?"),
    ({"devices": [{"host_path": "/dev/x", "perms": "r"}]}, "devices.0.perms", "did you mean permissions?"),
    ({"requirements": {"gpu": {"modle": "H100"}}}, "requirements.gpu.modle", "did you mean model?"),
    ({"zzz": 1}, "zzz", "unknown field 'zzz' (valid fields: name, image,"),
])
def test_bad_specs_name_the_field(patch, field, message):
    found = problems_of({**MINIMAL, **patch})
    assert field in found, found
    assert message in found[field], found[field]


def test_missing_required_fields_are_each_named():
    assert problems_of({"repetitions": 3}) == {"name": "required field is missing",
                                               "image": "required field is missing"}


def test_every_problem_is_reported_at_once():
    found = problems_of({**MINIMAL, "repetitions": 0, "priority": 99, "network": "x", "typo": 1})
    assert set(found) == {"repetitions", "priority", "network", "typo"}


# ---------------------------------------------------------------------------- files and lines
@pytest.mark.parametrize("text,expected", [
    ("name: cpu\nimage: x\nresources:\n  cpus: 2\n  memory: 12 parsecs\nrepetitions: -1\n",
     ["<s> line 5: resources.memory: '12 parsecs' is not a size (use e.g. 512m or 2g)",
      "<s> line 6: repetitions: Input should be greater than or equal to 1 (got -1)"]),
    ("name: cpu\nimage: x\ndevices:\n  - host_path: /dev/a\n  - host_path: /etc/b\n",
     ["<s> line 5: devices.1.host_path: '/etc/b' is not a device path under /dev/"]),
    ("name: cpu\nimage: x\nresults:\n  metrics:\n    eps:\n      unit: x\n      direction: sideways\n",
     ["<s> line 7: results.metrics.eps.direction: Input should be 'higher' or 'lower' (got 'sideways')"]),
    ("name: cpu\nimage: x\nrequirements:\n  gpu:\n    count: 1\n    modle: H100\n",
     ["<s> line 6: requirements.gpu.modle: unknown field 'modle' (did you mean model?)"]),
    ("name: cpu\nimage: x\nname: other\n",
     ["<s> line 3: name: duplicate key (first at line 1); YAML keeps only the last one"]),
    ('{\n  "name": "cpu",\n  "image": "x",\n  "priority": 11\n}\n',
     ["<s> line 4: priority: Input should be less than or equal to 9 (got 11)"]),
    ("name: x\nimage: a: b\n", ["<s> line 2: not valid YAML or JSON: mapping values are not allowed here"]),
    ("- just\n- a list\n", ["<s> line 1: a job spec must be a mapping of fields, not a list"]),
    ("", ["<s> line 1: a job spec must be a mapping of fields, not an empty document"]),
    ("name: x\nimage: y\nargs: &a [*a]\n", ["<s> line 3: args.0: Input should be a valid string"]),  # cyclic alias
    ("name: x\nimage: y\nresources:\n  cpus: 1\n  cpus: 2\n",
     ["<s> line 5: resources.cpus: duplicate key (first at line 4)"]),
])
def test_text_errors_give_source_line_and_field(text, expected):
    with pytest.raises(SpecError) as exc:
        load_spec_text(text, source="<s>")
    for line in expected:
        assert line in exc.value.message, exc.value.message


def test_one_problem_is_one_line_in_the_brief_format(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    path = jobs / "cpu.yaml"
    path.write_text("name: cpu\nimage: x\n" + "# comment\n" * 8 + "resources:\n  memory: 12 parsecs\n")
    with pytest.raises(SpecError) as exc:
        load_spec_file(path)
    assert exc.value.message == f"{path} line 12: resources.memory: '12 parsecs' is not a size (use e.g. 512m or 2g)"
    assert exc.value.exit_code == 2 and "spec schema" in exc.value.hint


def test_a_fixture_file_with_many_mistakes_lists_each_with_its_line():
    path = FIXTURES / "bad" / "cpu-typos.yaml"
    with pytest.raises(SpecValidationError) as exc:
        load_spec_file(path)
    got = [(p.line, p.path) for p in exc.value.problems]
    assert got == [(4, "repetitons"), (7, "resources.memory"), (11, "results.metrics.events_per_second.direction"),
                   (12, "priority"), (13, "network")]
    assert "did you mean repetitions?" in exc.value.problems[0].message
    assert exc.value.message.startswith(f"{path}: 5 problems in the job spec:\n  {path} line 4: repetitons:")


def test_a_json_fixture_gets_lines_too():
    with pytest.raises(SpecValidationError) as exc:
        load_spec_file(FIXTURES / "bad" / "devices.json")
    assert [(p.line, p.path) for p in exc.value.problems] == [(6, "devices.1.host_path"), (6, "devices.1.permissions")]


def test_json_with_tabs_is_still_accepted():
    assert load_spec_text('{\t"name": "cpu",\t"image": "x"}').name == "cpu"


def test_an_unreadable_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read the job spec"):
        load_spec_file(tmp_path / "missing.yaml")


def test_line_index_maps_nested_keys_and_list_items():
    lines, dups = index_lines("a: 1\nb:\n  c: 2\n  d:\n    - x\n    - y: 3\n")
    assert lines == {("a",): 1, ("b",): 2, ("b", "c"): 3, ("b", "d"): 4, ("b", "d", 0): 5, ("b", "d", 1): 6,
                     ("b", "d", 1, "y"): 6}
    assert dups == []


# ---------------------------------------------------------------------------- examples and schema
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_a_valid_spec_and_matches_the_published_schema(example):
    spec = load_spec_file(example)
    assert spec.results.metrics, "an example declares the metrics it reports"
    jsonschema.Draft202012Validator(job_spec_schema()).validate(yaml.safe_load(example.read_text()))


def test_the_examples_the_issue_asks_for_exist():
    names = {p.name for p in EXAMPLES}
    assert {"cpu-sysbench.yaml", "memory-stream.yaml", "disk-fio.yaml", "gpu-matmul.yaml", "noop.yaml"} <= names
    gpu = load_spec_file(REPO / "examples" / "gpu-matmul.yaml")
    assert gpu.requirements.gpu is not None and gpu.requirements.gpu.count == 1


def test_the_published_schema_is_up_to_date():
    committed = (REPO / "docs" / "job-spec.schema.json").read_text()
    assert committed == job_spec_schema_text(), "regenerate with: benchfarm spec schema > docs/job-spec.schema.json"


@pytest.mark.parametrize("bad", [
    {"image": "x"},  # no name
    {**MINIMAL, "typo": 1},
    {**MINIMAL, "network": "internet"},
    {**MINIMAL, "resources": {"memory": "lots"}},
    {**MINIMAL, "resources": {"cpuset": "a-b"}},
    {**MINIMAL, "name": "UPPER"},
])
def test_the_schema_refuses_what_the_model_refuses(bad):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(job_spec_schema()).validate(bad)
    with pytest.raises(SpecError):
        load_spec_data(bad)


def test_schema_is_valid_json_schema_with_an_id():
    schema = json.loads(job_spec_schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith("job-spec.schema.json") and schema["additionalProperties"] is False
