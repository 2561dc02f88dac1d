"""benchmark.yaml parsing and the catalogue under images/."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from benchfarm.errors import NotFoundError, SpecError
from benchfarm.images.catalogue import Catalogue, ResultFormat, load_spec
from benchfarm.settings import REPO_ROOT

CATALOGUE = Catalogue(REPO_ROOT / "images")

VALID = {
    "name": "demo",
    "version": "1.2.3",
    "description": "a demo",
    "base": {"kind": "image", "name": "base"},
    "result": {"format": "json-lines"},
    "metrics": [{"name": "ops", "unit": "op/s", "direction": "higher"}],
    "start": ["/usr/local/bin/run"],
    "validate": ["/usr/local/bin/validate"],
}


def _write(tmp_path: Path, data: object, name: str = "demo") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "benchmark.yaml").write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return d


def test_the_repository_catalogue_holds_every_required_image() -> None:
    names = CATALOGUE.names()
    assert {"base", "busybox", "sysbench", "stream", "fio", "pybench", "gpu-matmul"} <= set(names)
    for entry in CATALOGUE.entries():
        assert (entry.directory / "Dockerfile").is_file(), entry.spec.name
        assert entry.spec.validate_cmd == ["/usr/local/bin/validate"]
        assert (entry.directory / "validate").stat().st_mode & 0o111, f"{entry.spec.name}/validate not executable"


def test_catalogue_specs_have_expected_shapes() -> None:
    assert CATALOGUE.get("base").spec.ref == "benchfarm/base:bookworm-1"
    assert CATALOGUE.get("sysbench").spec.base.name == "base"
    fio = CATALOGUE.get("fio").spec
    assert fio.result is not None and fio.result.format is ResultFormat.JSON_FILE
    assert fio.result.path == "/results/result.json"
    assert CATALOGUE.get("gpu-matmul").spec.base.kind == "external"
    assert CATALOGUE.get("busybox").spec.host_files == {"busybox": "/bin/busybox"}


def test_valid_spec_parses_and_metadata_is_json_safe(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, VALID))
    assert spec.ref == "benchfarm/demo:1.2.3"
    meta = spec.metadata()
    assert meta["metrics"][0] == {"name": "ops", "unit": "op/s", "direction": "higher", "description": ""}
    assert meta["validate"] == ["/usr/local/bin/validate"]
    assert "host_files" not in meta


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": None}, "version"),
        ({"metrics": [{"name": "x", "unit": "s", "direction": "sideways"}]}, "metrics.0.direction"),
        ({"result": {"format": "json-file"}}, "result.path must name a file under /results/"),
        ({"result": {"format": "xml"}}, "result.format"),
        ({"base": {"kind": "external"}}, "base.ref is required"),
        ({"start": []}, "needs result, metrics and start"),
        ({"surprise": 1}, "surprise"),
        ({"name": "Bad Name"}, "name: String should match pattern"),
    ],
)
def test_invalid_specs_name_the_field(tmp_path: Path, change: dict, message: str) -> None:
    data = {**VALID, **change}
    data = {k: v for k, v in data.items() if v is not None}
    d = _write(tmp_path, data)
    with pytest.raises(SpecError) as info:
        load_spec(d)
    assert message in info.value.message
    assert info.value.hint


def test_directory_name_must_match(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="differs from its directory"):
        load_spec(_write(tmp_path, VALID, name="other"))


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(_write(tmp_path, "name: [unclosed"))
    with pytest.raises(NotFoundError):
        load_spec(tmp_path / "nowhere")
    with pytest.raises(NotFoundError) as info:
        CATALOGUE.get("no-such-image")
    assert info.value.hint and "sysbench" in info.value.hint
