"""Image builds against the real Docker engine: base chain, labels, validate, reproducibility, diff.

Needs only the engine (not the rest of the farm), so these tests use their own
fixtures instead of the session ``farm`` one. Variant images they create are
labelled ``benchfarm.test=1`` and removed afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchfarm.adapters.docker_images import DockerImages
from benchfarm.errors import ServiceUnavailableError, SetupError
from benchfarm.images import labels as L
from benchfarm.images.builder import ImageBuilder
from benchfarm.images.catalogue import Catalogue
from benchfarm.images.manifest import diff_manifests, ensure_manifest
from benchfarm.settings import REPO_ROOT, Settings, get_settings
from tests.support.busybox import TEST_IMAGE

pytestmark = pytest.mark.integration
TEST_REPO = "benchfarm-test/variant"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="module")
def docker(settings: Settings) -> Iterator[DockerImages]:
    images = DockerImages.from_settings(settings)
    try:
        images.client.ping()
    except Exception as exc:  # any failure to answer becomes one clear message
        raise ServiceUnavailableError("the Docker engine is not answering",
                                      hint="start it with `benchfarm stack up --only docker`") from exc
    yield images
    for info in images.list(label=f"{L.TEST}=1"):
        if TEST_IMAGE not in info.tags:  # the suite's shared busybox image carries the label too: keep it
            images.remove(info.id)
    images.close()


@pytest.fixture(scope="module")
def builder(docker: DockerImages, settings: Settings) -> ImageBuilder:
    return ImageBuilder(docker, settings)


def _git_last_commit(path: Path) -> str:
    return subprocess.run(["git", "-C", str(path), "log", "-1", "--format=%H", "--", "."],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_base_builds_from_the_debootstrap_rootfs_and_validates(builder: ImageBuilder, docker: DockerImages) -> None:
    result = builder.build("base")
    assert json.loads(result.validate_output)["validate"] == "ok"
    info = docker.get("benchfarm/base:bookworm-1")
    assert info.id == result.image_id == docker.get("benchfarm/base:latest").id
    rootfs_id = json.loads(info.labels[L.ANCESTORS])[0]
    rootfs = docker.get(rootfs_id)
    assert rootfs.labels["benchfarm.rootfs.suite"] == "bookworm"
    assert info.labels[L.BASE_DIGEST] == rootfs_id


def test_sysbench_labels_carry_its_provenance(builder: ImageBuilder, docker: DockerImages) -> None:
    result = builder.build("sysbench", cause="ci", ci_tag="it-images-1")
    labels = docker.get(result.image_id).labels
    base = docker.get("benchfarm/base:bookworm-1")
    spec = Catalogue(REPO_ROOT / "images").get("sysbench").spec
    assert json.loads(labels[L.ANCESTORS]) == [*json.loads(base.labels[L.ANCESTORS]), base.id]
    assert labels[L.BASE_DIGEST] == base.id and labels[L.BASE_NAME] == "benchfarm/base:bookworm-1"
    assert labels[L.BUILD_CAUSE] == "ci" and labels[L.BUILD_CI_TAG] == "it-images-1"
    assert labels[L.GIT_COMMIT] == _git_last_commit(REPO_ROOT / "images" / "sysbench")
    assert labels[L.REVISION] == labels[L.GIT_COMMIT]
    assert labels[L.GIT_DIRTY] in ("true", "false")
    assert json.loads(labels[L.BENCHMARK]) == spec.metadata()
    assert json.loads(labels[L.START]) == ["/usr/local/bin/run-sysbench"]
    assert labels[L.VERSION] == "1.0.0" and labels[L.TITLE] == "sysbench"
    assert labels[L.CREATED].endswith("Z")
    # the ci-caused build is a different image from the manual one; put the manual one back
    manual = builder.build("sysbench")
    assert manual.image_id != result.image_id
    assert docker.get("benchfarm/sysbench:latest").id == manual.image_id


def test_sysbench_start_command_prints_one_json_line(docker: DockerImages) -> None:
    run = docker.run("benchfarm/sysbench:latest", ["/bin/sh", "-c", "SYSBENCH_TIME=1 run-sysbench 2>/dev/null"])
    assert run.exit_code == 0, run.output
    line = json.loads(run.output.strip().splitlines()[-1])
    assert line["events_per_second"] > 0 and line["total_events"] > 0


@pytest.mark.parametrize("name", ["busybox", "sysbench", "stream"])
def test_rebuild_with_nothing_changed_gives_the_same_image(builder: ImageBuilder, name: str) -> None:
    first = builder.build(name)
    second = builder.build(name)
    assert first.image_id == second.image_id
    assert first.labels == second.labels


def test_gpu_matmul_refuses_without_its_cuda_base(builder: ImageBuilder) -> None:
    with pytest.raises(SetupError, match="cannot be built here") as info:
        builder.build("gpu-matmul")
    assert "pytorch/pytorch" in info.value.message and info.value.hint


def test_failing_validate_leaves_the_image_untagged(builder: ImageBuilder, docker: DockerImages,
                                                    tmp_path: Path) -> None:
    from benchfarm.errors import ImageValidationError

    ctx = tmp_path / "busybox"
    shutil.copytree(REPO_ROOT / "images" / "busybox", ctx)
    (ctx / "validate").write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    with pytest.raises(ImageValidationError, match="validate exited 3"):
        builder.build_directory(ctx, repository=f"{TEST_REPO}-broken", extra_labels={L.TEST: "1"})
    assert not docker.exists(f"{TEST_REPO}-broken:latest")


def test_a_planted_file_change_shows_in_the_diff(builder: ImageBuilder, docker: DockerImages,
                                                 settings: Settings, tmp_path: Path) -> None:
    a_dir, b_dir = tmp_path / "a" / "busybox", tmp_path / "b" / "busybox"
    shutil.copytree(REPO_ROOT / "images" / "busybox", a_dir)
    shutil.copytree(REPO_ROOT / "images" / "busybox", b_dir)
    (b_dir / "planted.txt").write_text("planted by the diff test\n")
    with (b_dir / "Dockerfile").open("a") as f:
        f.write("COPY planted.txt /usr/share/planted.txt\n")
    (b_dir / "validate").write_text((b_dir / "validate").read_text() + "# changed\n")
    a = builder.build_directory(a_dir, repository=f"{TEST_REPO}-a", extra_labels={L.TEST: "1"})
    b = builder.build_directory(b_dir, repository=f"{TEST_REPO}-b", extra_labels={L.TEST: "1"})
    assert docker.get(a.image_id).labels[L.GIT_DIRTY] == "true"  # outside git
    d = diff_manifests(ensure_manifest(docker, a.image_id, settings.state_dir),
                       ensure_manifest(docker, b.image_id, settings.state_dir))
    assert "/usr/share/planted.txt" in d.added
    assert "/usr/local/bin/validate" in d.changed
    assert d.removed == [] and d.packages == {}
    assert set(d.added) <= {"/usr/share/planted.txt", "/usr/share"}


def test_diff_of_base_and_sysbench_names_the_packages(docker: DockerImages, settings: Settings) -> None:
    base = docker.get("benchfarm/base:bookworm-1").id
    sysbench = docker.get("benchfarm/sysbench:latest").id
    d = diff_manifests(ensure_manifest(docker, base, settings.state_dir),
                       ensure_manifest(docker, sysbench, settings.state_dir))
    assert d.packages["sysbench"][0] is None and d.packages["sysbench"][1]
    assert "/usr/bin/sysbench" in d.added and "/usr/local/bin/run-sysbench" in d.added
    assert "/var/lib/dpkg/status" in d.changed


def test_cli_list_and_history_show_provenance(builder: ImageBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    from benchfarm.cli.main import main

    builder.build("sysbench")
    assert main(["image", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"base", "busybox", "sysbench"} <= set(rows)
    assert rows["sysbench"]["provenance"]["ancestors"][-1] == rows["base"]["image_id"]
    assert rows["gpu-matmul"]["image_id"] is None
    assert main(["image", "history", "sysbench", "--json"]) == 0
    chain = json.loads(capsys.readouterr().out)
    assert [c["image_id"] for c in chain] == [rows["sysbench"]["image_id"], rows["base"]["image_id"],
                                              rows["sysbench"]["provenance"]["ancestors"][0]]
    assert chain[2]["name"].startswith("rootfs")
