"""Builds a tiny static busybox image (FROM scratch) for tests that need a fast container."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import docker

TEST_IMAGE = "benchfarm-test/busybox:latest"
DOCKERFILE = b"""FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
LABEL benchfarm.test="1"
CMD ["/bin/sh"]
"""


def ensure_busybox_image(client: docker.DockerClient) -> str:
    """Build the test image once (cached by the engine); returns its tag."""
    try:
        client.images.get(TEST_IMAGE)
        return TEST_IMAGE
    except docker.errors.ImageNotFound:
        pass
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not Path(busybox).exists():
        raise RuntimeError("busybox-static is not installed (apt-get install busybox-static)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(DOCKERFILE)
        tar.addfile(info, io.BytesIO(DOCKERFILE))
        tar.add(busybox, arcname="busybox")
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=TEST_IMAGE, rm=True, network_mode="none")
    return TEST_IMAGE
