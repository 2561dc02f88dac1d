"""Push to and pull by digest from a real registry (Debian ``docker-registry``, distribution v2).

The test starts its own registry on a free loopback port with a temporary config
(the farm's one on settings.registry_address belongs to the stack), pushes a
test variant, deletes it locally, and pulls it back by digest.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchfarm.adapters.docker_images import DockerImages
from benchfarm.errors import RegistryError
from benchfarm.images import labels as L
from benchfarm.images.builder import ImageBuilder
from benchfarm.images.registry import pull_by_digest, push_image
from benchfarm.settings import REPO_ROOT, get_settings
from tests.support.busybox import TEST_IMAGE

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed (apt-get install docker-registry)")
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n")
    log = (root / "registry.log").open("w")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://{address}/v2/", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"docker-registry did not answer on {address}: {(root / 'registry.log').read_text()}")
        time.sleep(0.1)
    yield address
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture(scope="module")
def docker() -> Iterator[DockerImages]:
    images = DockerImages.from_settings(get_settings())
    yield images
    for info in images.list(label=f"{L.TEST}=1"):
        if TEST_IMAGE not in info.tags:  # the suite's shared busybox image carries the label too: keep it
            images.remove(info.id)
    images.close()


def test_push_then_pull_by_digest(registry: str, docker: DockerImages, tmp_path: Path) -> None:
    ctx = tmp_path / "busybox"
    shutil.copytree(REPO_ROOT / "images" / "busybox", ctx)
    # a label of its own makes the image's id its own: the same busybox context also builds the suite's
    # shared test image, and removing this one by id (below) must never take that one's tags with it
    built = ImageBuilder(docker, get_settings()).build_directory(
        ctx, repository="benchfarm-test/pushed", extra_labels={L.TEST: "1", "benchfarm.test.run": uuid.uuid4().hex})
    shared = docker.get("benchfarm-test/busybox:latest").id if docker.exists("benchfarm-test/busybox:latest") else None
    assert built.image_id != shared
    pushed = push_image(docker, "benchfarm-test/pushed:1", registry)
    assert pushed.repository == f"{registry}/benchfarm-test/pushed" and pushed.tag == "1"
    assert pushed.digest.startswith("sha256:")
    assert pushed.pull_ref in docker.get(built.image_id).repo_digests
    # the registry serves that manifest digest
    head = httpx.head(f"http://{registry}/v2/benchfarm-test/pushed/manifests/{pushed.digest}",
                      headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert head.status_code == 200 and head.headers["Docker-Content-Digest"] == pushed.digest

    docker.remove(built.image_id, force=True)
    assert not docker.exists(built.image_id)
    pulled = pull_by_digest(docker, pushed.pull_ref)
    assert pulled == built.image_id  # same config digest: the very bits that were pushed
    assert docker.get(pulled).labels[L.TEST] == "1"


def test_pull_refuses_an_unpinned_reference(docker: DockerImages, registry: str) -> None:
    with pytest.raises(RegistryError, match="not pinned by digest"):
        pull_by_digest(docker, f"{registry}/benchfarm-test/pushed:1")


def test_pull_of_an_unknown_digest_fails_clearly(docker: DockerImages, registry: str) -> None:
    with pytest.raises(RegistryError, match="pull of"):
        pull_by_digest(docker, f"{registry}/benchfarm-test/nothing@sha256:{'0' * 64}")
