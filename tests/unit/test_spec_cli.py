"""`benchfarm spec schema | validate`: output and exit codes through the CLI's error boundary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchfarm.cli.main import main
from benchfarm.spec.schema import job_spec_schema

REPO = Path(__file__).resolve().parents[2]
BAD = REPO / "tests" / "fixtures" / "spec" / "bad" / "cpu-typos.yaml"


def test_schema_prints_the_json_schema(capsys):
    assert main(["spec", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == job_spec_schema()


def test_validate_a_good_file_exits_0(capsys):
    assert main(["spec", "validate", str(REPO / "examples" / "cpu-sysbench.yaml")]) == 0
    assert "valid job spec ('cpu-sysbench'" in capsys.readouterr().out


def test_validate_json_prints_the_spec_with_its_defaults(capsys):
    assert main(["spec", "validate", "--json", str(REPO / "examples" / "noop.yaml")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is True and doc["spec"]["name"] == "noop" and doc["spec"]["network"] == "none"


def test_validate_a_bad_file_exits_2_with_lines_and_fields(capsys):
    assert main(["spec", "validate", str(BAD)]) == 2
    err = capsys.readouterr().err
    assert "line 7: resources.memory: '12 parsecs' is not a size" in err
    assert "line 4: repetitons: unknown field 'repetitons' (did you mean repetitions?)" in err
    assert "Traceback" not in err


def test_validate_json_reports_each_problem(capsys):
    assert main(["spec", "validate", "--json", str(BAD)]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False and doc["source"] == str(BAD)
    assert [(p["line"], p["path"]) for p in doc["problems"]][:2] == [(4, "repetitons"), (7, "resources.memory")]


@pytest.mark.parametrize("as_json", [False, True])
def test_validate_a_missing_file_exits_2(tmp_path, capsys, as_json):
    argv = ["spec", "validate", *(["--json"] if as_json else []), str(tmp_path / "nope.yaml")]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "cannot read the job spec" in (captured.out if as_json else captured.err)
