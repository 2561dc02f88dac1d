"""Bring your own benchmark: building any directory with a Dockerfile, over a stand-in image engine."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml

from benchfarm.cli import image_cmd
from benchfarm.cli.main import main
from benchfarm.errors import ImageValidationError, NotFoundError, SetupError, SpecError
from benchfarm.images import labels as L
from benchfarm.images.builder import ImageBuilder
from benchfarm.images.directory import (
    base_of,
    content_hash,
    default_name,
    directory_image,
    is_path_target,
    other_bases,
    read_froms,
)
from benchfarm.images.inspect import ImageCatalogueView
from benchfarm.images.model import ImageInfo, RunOutput
from benchfarm.settings import REPO_ROOT, Settings

CATALOGUE = ["base", "busybox", "fio", "sysbench"]
LOCAL_BASE = "example.org/tools/busybox:1.36"
LOCAL_BASE_ID = "sha256:" + "11" * 32


class FakeImages:
    """Stands in for the image calls of DockerImages: holds images by reference, 'builds' by hashing inputs."""

    def __init__(self, present: dict[str, ImageInfo] | None = None, validate_exit: int = 0) -> None:
        self.images: dict[str, ImageInfo] = dict(present or {})
        self.builds: list[dict] = []
        self.runs: list[tuple[str, list[str], str]] = []
        self.validate_exit = validate_exit

    def exists(self, ref: str) -> bool:
        return ref in self.images

    def get(self, ref: str) -> ImageInfo:
        try:
            return self.images[ref]
        except KeyError:
            raise NotFoundError(f"no image {ref}") from None

    def build(self, context: Path, *, buildargs, labels, network, progress=None, nocache=False) -> str:
        files = sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file())
        inputs = content_hash(context) + json.dumps([labels, buildargs], sort_keys=True)
        image_id = "sha256:" + hashlib.sha256(inputs.encode()).hexdigest()
        self.builds.append({"files": files, "buildargs": buildargs, "labels": labels, "network": network})
        self.images[image_id] = ImageInfo(id=image_id, tags=[], repo_digests=[], labels=labels, created="")
        return image_id

    def run(self, image: str, command: list[str], *, timeout: float = 120, network: str = "none") -> RunOutput:
        self.runs.append((image, command, network))
        return RunOutput(exit_code=self.validate_exit, output='{"validate": "ok"}\n')

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        info = self.images[image_id]
        ref = f"{repository}:{tag}"
        tagged = ImageInfo(id=info.id, tags=[*info.tags, ref], repo_digests=[], labels=info.labels, created="")
        self.images[image_id] = tagged
        for key, value in list(self.images.items()):
            if value.id == image_id:
                self.images[key] = tagged
        self.images[ref] = tagged


def _local_base() -> dict[str, ImageInfo]:
    return {LOCAL_BASE: ImageInfo(id=LOCAL_BASE_ID, tags=[LOCAL_BASE], repo_digests=[], labels={}, created="")}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache", repo_root=REPO_ROOT)


def user_dir(tmp_path: Path, dockerfile: str = f"FROM {LOCAL_BASE}\nCOPY bench.sh /bench.sh\nCMD [\"/bench.sh\"]\n",
             meta: dict | None = None, name: str = "My_Bench") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "Dockerfile").write_text(dockerfile)
    (d / "bench.sh").write_text('#!/bin/sh\necho \'{"metric": "ops", "value": 1, "unit": "ops/s"}\'\n')
    (d / "bench.sh").chmod(0o755)
    if meta is not None:
        (d / "benchmark.yaml").write_text(yaml.safe_dump(meta))
    return d


# ---------------------------------------------------------------------------- Dockerfile FROM lines
@pytest.mark.parametrize(("dockerfile", "base", "others", "base_arg"), [
    ("FROM benchfarm/base:latest\nRUN true\n", {"kind": "external", "ref": "benchfarm/base:latest"}, [], False),
    ("ARG BASE\nFROM ${BASE}\n", {"kind": "image", "name": "base"}, [], True),
    ("ARG BASE=busybox:1.36\nFROM $BASE\n", {"kind": "external", "ref": "busybox:1.36"}, [], True),
    ("FROM ${IMG:-alpine:3}\n", {"kind": "external", "ref": "alpine:3"}, [], False),
    ("from scratch\ncopy x /x\n", {"kind": "scratch"}, [], False),
    ("# syntax comment\nFROM --platform=linux/amd64 gcc:13 AS build\nRUN make\n"
     "FROM debian:12-slim\nCOPY --from=build /a /a\n",
     {"kind": "external", "ref": "debian:12-slim"}, ["gcc:13"], False),
    ("FROM gcc:13 AS build\nFROM build AS test\nFROM test\n", {"kind": "external", "ref": "gcc:13"}, [], False),
    ("FROM \\\n  debian:12 \\\n  AS one\nFROM scratch\n", {"kind": "scratch"}, ["debian:12"], False),
])
def test_the_base_comes_from_the_final_from(dockerfile, base, others, base_arg):
    froms = read_froms(dockerfile)
    assert base_of(froms) == base
    assert other_bases(froms) == others
    assert ("BASE" in froms.args) is base_arg


@pytest.mark.parametrize(("dockerfile", "message"), [
    ("RUN true\n", "the Dockerfile has no FROM instruction"),
    ("ARG IMG\nFROM ${IMG}\n", "the Dockerfile's FROM uses ${IMG}, which has no default"),
])
def test_a_dockerfile_without_a_usable_from_is_refused(dockerfile, message):
    with pytest.raises(SpecError, match=message.replace("$", r"\$").replace("{", r"\{").replace("}", r"\}")):
        base_of(read_froms(dockerfile))


# ---------------------------------------------------------------------------- names, versions, targets
@pytest.mark.parametrize(("target", "is_path"), [
    ("sysbench", False), ("nope", False), ("./nope", True), ("examples/byo-benchmark", True), ("/tmp", True),
])
def test_a_target_is_a_path_when_it_has_a_slash_or_is_a_directory(target, is_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    assert is_path_target(target, CATALOGUE) is is_path


def test_a_catalogue_name_stays_a_catalogue_name_even_next_to_a_directory_of_that_name(tmp_path, monkeypatch):
    (tmp_path / "sysbench").mkdir()
    (tmp_path / "mine").mkdir()
    monkeypatch.chdir(tmp_path)
    assert not is_path_target("sysbench", CATALOGUE)
    assert is_path_target("mine", CATALOGUE) and is_path_target("./sysbench", CATALOGUE)


@pytest.mark.parametrize(("dirname", "name"), [("My_Bench", "my_bench"), ("a b+c", "a-b-c"), ("--x--", "x")])
def test_default_names(tmp_path, dirname, name):
    (tmp_path / dirname).mkdir()
    assert default_name(tmp_path / dirname) == name


def test_the_content_hash_follows_contents_and_executable_bits_only(tmp_path):
    d = user_dir(tmp_path)
    first = content_hash(d)
    os.utime(d / "bench.sh", (1, 1))
    (d / ".git").mkdir()
    (d / ".git" / "HEAD").write_text("ref: x\n")
    assert content_hash(d) == first
    (d / "bench.sh").chmod(0o644)
    assert content_hash(d) != first
    (d / "bench.sh").chmod(0o755)
    (d / "bench.sh").write_text("#!/bin/sh\necho changed\n")
    assert content_hash(d) != first


def test_a_directory_without_benchmark_yaml_gets_sensible_defaults(tmp_path):
    image = directory_image(user_dir(tmp_path), catalogue_names=CATALOGUE)
    spec = image.spec
    assert spec.name == "my_bench" and spec.version == f"0.0.0-{content_hash(tmp_path / 'My_Bench')[:12]}"
    assert spec.ref == f"benchfarm/my_bench:{spec.version}"
    assert spec.base.kind == "external" and spec.base.ref == LOCAL_BASE
    assert spec.validate_cmd == [] and spec.result is None and not image.has_metadata


def test_flags_win_over_benchmark_yaml_which_wins_over_defaults(tmp_path):
    meta = {"name": "from-yaml", "version": "2.0", "validate": ["/bench.sh"],
            "result": {"format": "google-benchmark"}}
    d = user_dir(tmp_path, meta=meta)
    assert directory_image(d).spec.ref == "benchfarm/from-yaml:2.0"
    spec = directory_image(d, name="from-flag", version="3.1").spec
    assert spec.ref == "benchfarm/from-flag:3.1" and spec.validate_cmd == ["/bench.sh"]
    assert spec.metadata()["result"] == {"format": "google-benchmark", "path": None}


@pytest.mark.parametrize(("kwargs", "meta", "error", "message"), [
    ({"name": "sysbench"}, None, SpecError, "'sysbench' is the name of a catalogue image (images/sysbench)"),
    ({"version": "1.0+abc"}, None, SpecError, "--version '1.0+abc' is not usable as an image tag"),
    ({"name": "Bad Name"}, None, SpecError, "name (or --name): String should match pattern"),
    ({}, {"base": {"kind": "external"}}, SpecError, "base.ref is required"),
    ({}, {"surprise": 1}, SpecError, "benchmark.yaml: surprise: Extra inputs are not permitted"),
    ({}, ["not", "a", "mapping"], SpecError, "must be a YAML mapping"),
])
def test_bad_directories_name_what_to_fix(tmp_path, kwargs, meta, error, message):
    d = user_dir(tmp_path)
    if meta is not None:
        (d / "benchmark.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(error) as exc:
        directory_image(d, catalogue_names=CATALOGUE, **kwargs)
    assert message in exc.value.message and exc.value.hint


def test_a_directory_needs_a_dockerfile(tmp_path):
    with pytest.raises(NotFoundError, match="is not a directory"):
        directory_image(tmp_path / "absent")
    with pytest.raises(NotFoundError, match="has no Dockerfile"):
        directory_image(tmp_path)


# ---------------------------------------------------------------------------- the build
def test_build_path_labels_tags_and_says_it_skipped_validation(tmp_path, settings):
    docker = FakeImages(_local_base())
    notes: list[str] = []
    result = ImageBuilder(docker, settings).build_path(user_dir(tmp_path), progress=notes.append)
    spec = directory_image(tmp_path / "My_Bench").spec
    assert result.tags == [f"benchfarm/my_bench:{spec.version}", "benchfarm/my_bench:latest"]
    assert not result.validated and docker.runs == []
    labels = docker.get("benchfarm/my_bench:latest").labels
    assert labels[L.NAME] == "my_bench" and labels[L.VERSION] == spec.version
    assert labels[L.BASE_NAME] == LOCAL_BASE and labels[L.BASE_DIGEST] == LOCAL_BASE_ID
    assert json.loads(labels[L.ANCESTORS]) == [LOCAL_BASE_ID]
    assert labels[L.GIT_DIRTY] == "true" and labels[L.SOURCE] == str((tmp_path / "My_Bench").resolve())
    assert json.loads(labels[L.VALIDATE]) == [] and labels[L.BUILD_CAUSE] == "manual"
    assert docker.builds[0]["buildargs"] == {} and docker.builds[0]["network"] == "none"
    assert sorted(docker.builds[0]["files"]) == ["Dockerfile", "bench.sh"]
    assert any("no benchmark.yaml in" in n for n in notes)
    assert any("gives no validate command" in n and "tagged without a self-test" in n for n in notes)
    assert (settings.state_dir / "images" / "builds" / f"{result.image_id[7:]}.json").is_file()


def test_a_validate_command_from_benchmark_yaml_runs_and_a_failure_leaves_no_tag(tmp_path, settings):
    d = user_dir(tmp_path, meta={"validate": ["/bench.sh"]})
    docker = FakeImages(_local_base())
    result = ImageBuilder(docker, settings).build_path(d, name="ok-bench", version="1")
    assert result.validated and docker.runs == [(result.image_id, ["/bench.sh"], "none")]
    failing = FakeImages(_local_base(), validate_exit=3)
    with pytest.raises(ImageValidationError, match="validate exited 3"):
        ImageBuilder(failing, settings).build_path(d, name="ok-bench", version="1")
    assert not failing.exists("benchfarm/ok-bench:latest")


def test_bases_must_be_local_and_are_never_pulled(tmp_path, settings):
    docker = FakeImages()
    with pytest.raises(SetupError, match=f"builds FROM {LOCAL_BASE}, which is not in the local Docker engine"):
        ImageBuilder(docker, settings).build_path(user_dir(tmp_path))
    staged = user_dir(tmp_path, dockerfile=f"FROM gcc:13 AS build\nFROM {LOCAL_BASE}\n", name="staged")
    with pytest.raises(SetupError, match="has a stage FROM gcc:13, which is not in the local Docker engine"):
        ImageBuilder(FakeImages(_local_base()), settings).build_path(staged)


def test_a_missing_catalogue_base_is_built_first(tmp_path, settings):
    d = user_dir(tmp_path, dockerfile="FROM benchfarm/busybox:latest\nCOPY bench.sh /bench.sh\n")
    docker = FakeImages()
    result = ImageBuilder(docker, settings).build_path(d)
    assert result.built_bases == ["benchfarm/busybox:latest"]
    assert docker.get(result.image_id).labels[L.BASE_NAME] == "benchfarm/busybox:latest"
    assert len(docker.builds) == 2 and "busybox" in docker.builds[0]["files"]


def test_the_golden_base_argument_is_passed_when_the_dockerfile_declares_it(tmp_path, settings):
    base = "benchfarm/base:bookworm-1"
    present = {base: ImageInfo(id="sha256:" + "22" * 32, tags=[base], repo_digests=[], labels={}, created="")}
    d = user_dir(tmp_path, dockerfile="ARG BASE\nFROM ${BASE}\nCOPY bench.sh /bench.sh\n")
    docker = FakeImages(present)
    ImageBuilder(docker, settings).build_path(d)
    assert docker.builds[0]["buildargs"] == {"BASE": base}


def test_a_catalogue_directory_given_as_a_path_builds_the_catalogue_image(tmp_path, settings):
    docker = FakeImages()
    result = ImageBuilder(docker, settings).build_path(REPO_ROOT / "images" / "busybox")
    assert result.tags == ["benchfarm/busybox:1", "benchfarm/busybox:latest"] and result.validated
    with pytest.raises(SpecError, match="is the catalogue image busybox"):
        ImageBuilder(docker, settings).build_path(REPO_ROOT / "images" / "busybox", version="2")


# ---------------------------------------------------------------------------- CLI and push resolution
def test_cli_builds_a_path_and_refuses_flags_for_a_catalogue_name(tmp_path, settings, monkeypatch, capsys):
    docker = FakeImages(_local_base())
    monkeypatch.setattr(image_cmd, "_docker", lambda: docker)
    monkeypatch.setattr(image_cmd, "get_settings", lambda: settings)
    monkeypatch.setattr(image_cmd, "_keep_manifest", lambda *a: None)
    d = user_dir(tmp_path)
    assert main(["image", "build", str(d), "--name", "cli-bench", "--version", "0.1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["tags"] == ["benchfarm/cli-bench:0.1", "benchfarm/cli-bench:latest"]
    assert result["validated"] is False
    assert main(["image", "build", "sysbench", "--name", "x"]) == 2
    assert "--name and --version are for a directory" in capsys.readouterr().err


def test_push_resolves_a_directory_and_a_built_name_to_the_versioned_tag(tmp_path, settings):
    docker = FakeImages(_local_base())
    d = user_dir(tmp_path)
    result = ImageBuilder(docker, settings).build_path(d, name="pushme", version="1.2")
    view = ImageCatalogueView(docker, settings)
    assert view.resolve_ref("pushme") == "benchfarm/pushme:1.2"
    assert view.resolve_ref(str(d)) == f"benchfarm/my_bench:{directory_image(d).spec.version}"
    assert view.resolve_ref("sysbench").startswith("benchfarm/sysbench:")
    assert view.resolve_ref("other/image:1") == "other/image:1"
    assert view.resolve_ref("not-built") == "not-built"
    assert view.resolve(result.tags[0]) == result.image_id
