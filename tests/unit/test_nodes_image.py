"""The node image: the inputs digest decides between reusing and building; the lock's pins feed the closure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from benchfarm.nodes.config import NodeFarmConfig
from benchfarm.nodes.errors import NodeImageError
from benchfarm.nodes.image import LABEL_INPUTS, NodeImageBuilder, inputs_digest
from benchfarm.nodes.wheelhouse import lock_pins

BASE = "benchfarm/base:latest"

LOCK = """\
aiohttp==3.14.5 \\
    --hash=sha256:0133c3c3b54a0bf1e71fa5c1ad95c93f07fd54e24ef1fe182f5122e1573d2bf1
    # via salt
pywin32==306 ; sys_platform == 'win32' \\
    --hash=sha256:06d3420a5155ba65f0b72f2699b5bacf3109f36acbe8923765c22938a69dfc8d
--index-url https://pypi.org/simple

salt==3008.4 \\
    --hash=sha256:aaaa
"""


@dataclass
class Img:
    id: str
    labels: dict[str, str] = field(default_factory=dict)


class FakeImages:
    def __init__(self) -> None:
        self.images: dict[str, Img] = {BASE: Img("sha256:base")}
        self.builds: list[dict[str, str]] = []

    def exists(self, ref: str) -> bool:
        return ref in self.images

    def get(self, ref: str) -> Img:
        return self.images[ref]

    def build(self, context: Path, *, buildargs: dict[str, str], labels: dict[str, str], network: str,
              progress=None, nocache: bool = False) -> str:
        assert buildargs == {"BASE": BASE} and network == "host"
        progress("Step 1/2 : FROM x\nwith a second line")
        progress("Get:1 http://deb.debian.org chatter")
        self.builds.append(labels)
        image_id = f"sha256:built{len(self.builds)}"
        self.images[image_id] = Img(image_id, dict(labels))
        return image_id

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        self.images[f"{repository}:{tag}"] = self.images[image_id]


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "context"
    (ctx / "wheelhouse").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM x\n")
    (ctx / "wheelhouse" / "a-1-py3-none-any.whl").write_bytes(b"wheel")
    return ctx


def test_the_same_inputs_reuse_the_image_and_a_change_rebuilds(context: Path) -> None:
    images = FakeImages()
    builder = NodeImageBuilder(images, NodeFarmConfig())
    said: list[str] = []
    first = builder.build_context(context, "0.1.0", said.append)
    assert first.built and first.ref == "benchfarm-node:0.1.0"
    assert images.get("benchfarm-node:latest").id == first.image_id
    assert said[1] == "Step 1/2 : FROM x"  # build steps pass, apt's chatter does not
    assert not any("chatter" in s for s in said)
    again = builder.build_context(context, "0.1.0")
    assert (again.built, again.image_id) == (False, first.image_id)
    (context / "Dockerfile").write_text("FROM x\nRUN true\n")
    changed = builder.build_context(context, "0.1.0")
    assert changed.built and changed.image_id != first.image_id
    assert builder.build_context(context, "0.1.0", force=True).built
    assert len(images.builds) == 3
    assert images.builds[0][LABEL_INPUTS] == first.inputs


def test_a_missing_base_says_how_to_build_it(context: Path) -> None:
    images = FakeImages()
    del images.images[BASE]
    with pytest.raises(NodeImageError) as err:
        NodeImageBuilder(images, NodeFarmConfig()).build_context(context, "0.1.0")
    assert err.value.hint == "build it with `benchfarm image build base`"


def test_the_digest_covers_content_mode_and_base(context: Path) -> None:
    d0 = inputs_digest(context, "sha256:base")
    assert inputs_digest(context, "sha256:base") == d0
    assert inputs_digest(context, "sha256:other") != d0
    (context / "Dockerfile").chmod(0o755)
    assert inputs_digest(context, "sha256:base") != d0


def test_lock_pins_keep_requirements_and_markers_not_hashes(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(LOCK)
    assert lock_pins(lock) == ["aiohttp==3.14.5", "pywin32==306 ; sys_platform == 'win32'", "salt==3008.4"]
