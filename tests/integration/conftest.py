"""Integration tier: every test here talks to the real services of the one-host farm.

The session fixture ``farm`` starts the stack (or reuses it: `stack up` is
idempotent) exactly as `benchfarm stack up` does, after checking the
prerequisites with a clear message.
"""

from __future__ import annotations

import contextlib
import os
import sys

import docker
import pytest

from benchfarm.adapters.docker_images import DockerImages
from benchfarm.nodes.config import NodeFarmConfig
from benchfarm.nodes.image import NodeImage, NodeImageBuilder
from benchfarm.settings import Settings, get_settings
from benchfarm.stack.stack import Stack
from tests.support.busybox import ensure_busybox_image


def _progress(message: str) -> None:
    sys.stderr.write(f"[farm] {message}\n")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def farm(settings: Settings) -> Stack:
    """The real one-host farm, up and healthy."""
    if os.geteuid() != 0:
        pytest.exit("integration tests start real services and need root (run them with sudo)", returncode=3)
    stack = Stack(settings)
    stack.up(_progress)
    bad = [s for s in stack.status() if not s.healthy]
    assert not bad, f"services not healthy after stack up: {bad}"
    return stack


@pytest.fixture(scope="session")
def docker_client(farm: Stack, settings: Settings):
    client = docker.DockerClient(base_url=settings.docker_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox_image(docker_client) -> str:
    return ensure_busybox_image(docker_client)


@pytest.fixture
def containers(docker_client):
    """Tracks containers a test creates and force-removes them afterwards."""
    created: list = []
    yield created
    for c in created:
        with contextlib.suppress(docker.errors.NotFound):
            c.remove(force=True)


@pytest.fixture(scope="session")
def catalogue_image(farm, docker_client):
    """Returns a function that makes sure a catalogue image (images/<name>) is built, building it if absent."""
    import subprocess

    def ensure(name: str) -> str:
        tag = f"benchfarm/{name}:latest"
        try:
            docker_client.images.get(tag)
        except docker.errors.ImageNotFound:
            res = subprocess.run([sys.executable, "-m", "benchfarm.cli.main", "image", "build", name],
                                 capture_output=True, text=True, timeout=900, check=False)
            assert res.returncode == 0, f"building {name} failed:\n{res.stderr[-3000:]}"
        return tag

    return ensure


@pytest.fixture(scope="session")
def node_image(farm, catalogue_image, settings: Settings) -> NodeImage:
    """benchfarm-node:<version> from the golden base (each built first when missing), for the node tests."""
    catalogue_image("base")
    images = DockerImages.from_settings(settings)
    try:
        return NodeImageBuilder(images, NodeFarmConfig.from_settings(settings)).ensure(_progress)
    finally:
        images.close()
