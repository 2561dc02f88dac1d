"""Job spec validation: table-driven good and bad specs, errors naming field and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchfarm.errors import SpecError
from benchfarm.spec.loader import load_spec_data, load_spec_file, load_spec_text
from benchfarm.spec.model import cpuset_cpus, parse_size
from benchfarm.spec.schema import job_spec_schema_text

REPO = Path(__file__).resolve().parents[2]
MINIMAL = {"name": "cpu", "image": "benchfarm/sysbench:latest"}


@pytest.mark.parametrize("text,expected", [
    ("512m", 512 << 20), ("2g", 2 << 30), ("1.5GiB", int(1.5 * (1 << 30))), ("64k", 64 << 10),
    (1048576, 1048576), ("100", 100), ("1t", 1 << 40),
])
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["lots", "-1m", "0", "12 parsecs", True, 0])
def test_bad_sizes(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


@pytest.mark.parametrize("cpuset,cpus", [("0", [0]), ("0-3", [0, 1, 2, 3]), ("0-1,6", [0, 1, 6])])
def test_cpusets(cpuset, cpus):
    assert cpuset_cpus(cpuset) == cpus


def test_defaults_are_sane():
    spec = load_spec_data(MINIMAL)
    assert spec.warmup == 1 and spec.repetitions == 5 and spec.fresh_container_per_repetition
    assert spec.network == "none" and spec.cap_add == [] and spec.priority == 5
    assert spec.results.format == "json-lines" and spec.thresholds.max_regression_pct == 5.0


@pytest.mark.parametrize("patch,field,message", [
    ({"repetitions": 0}, "repetitions", "greater than or equal to 1"),
    ({"resources": {"memory": "lots"}}, "resources.memory", "is not a size"),
    ({"resources": {"cpuset": "0-"}}, "resources.cpuset", "is not a cpuset"),
    ({"requirements": {"cpu_model": "EPYC("}}, "requirements.cpu_model", "not a valid regular expression"),
    ({"devices": [{"host_path": "/etc/passwd"}]}, "devices.0.host_path", "not a device path"),
    ({"devices": [{"host_path": "/dev/fpga0", "permissions": "rwx"}]}, "devices.0.permissions", "combination of r, w"),
    ({"network": "internet"}, "network", "Input should be"),
    ({"priority": 10}, "priority", "less than or equal to 9"),
    ({"results": {"format": "xml"}}, "results.format", "Input should be"),
    ({"results": {"format": "json-file", "path": "/tmp/r.json"}}, "results.path", "under /results/"),
    ({"name": "Has Spaces"}, "name", "lower-case"),
    ({"reps": 3}, "reps", "unknown field 'reps' (did you mean results, repetitions"),
    ({"resources": {"cpuz": 1}}, "resources.cpuz", "did you mean cpus, cpuset?"),
    ({"adaptive": {"target_cv": 0.05, "min_repetitions": 10, "max_repetitions": 5}}, "adaptive", "at least"),
])
def test_bad_specs_name_the_field(patch, field, message):
    with pytest.raises(SpecError) as exc:
        load_spec_data({**MINIMAL, **patch})
    assert f"{field}: " in exc.value.message and message in exc.value.message


def test_missing_required_fields_are_named():
    with pytest.raises(SpecError) as exc:
        load_spec_data({"repetitions": 3})
    assert "name: required field is missing" in exc.value.message
    assert "image: required field is missing" in exc.value.message


def test_a_file_error_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("name: cpu\nimage: x\nresources:\n  cpus: 2\n  memory: 12 parsecs\nrepetitions: -1\n")
    with pytest.raises(SpecError) as exc:
        load_spec_file(path)
    msg = exc.value.message
    assert f"{path} line 5: resources.memory: '12 parsecs' is not a size" in msg
    assert f"{path} line 6: repetitions:" in msg


def test_yaml_syntax_errors_give_the_line():
    with pytest.raises(SpecError, match="line 2"):
        load_spec_text("name: x\nimage: a: b\n", "s.yaml")


def test_non_mapping_documents_are_refused():
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec_text("- just\n- a list\n")


def test_json_is_accepted_too():
    assert load_spec_text(json.dumps(MINIMAL)).name == "cpu"


def test_labels_take_numbers_and_strings():
    spec = load_spec_data({**MINIMAL, "labels": {"build": 42, "ref": "main", "ok": True}})
    assert spec.labels == {"build": 42, "ref": "main", "ok": True}


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_is_a_valid_spec(example):
    assert load_spec_file(example).name


def test_the_published_schema_is_up_to_date():
    committed = (REPO / "docs" / "job-spec.schema.json").read_text()
    assert committed == job_spec_schema_text(), "regenerate with: benchfarm spec schema > docs/job-spec.schema.json"
