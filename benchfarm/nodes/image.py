"""The node image ``benchfarm-node:<version>``: the golden base, a host's packages, the project's wheels.

Built from ``images/node/`` (Dockerfile, the node's init and service scripts) plus
a generated part of the build context: ``wheelhouse/`` (benchfarm's run-time
dependencies at the lock's versions, from the host's wheelhouse) and ``dist/``
(benchfarm's wheel from the working tree). The Debian packages come from Debian's
mirror during the build (``--network host``, as for every image that apt-gets);
at run time a node reaches no registry and no index.

Why an inputs digest: the build context is ~150 MB of wheels, so even a fully
cached ``docker build`` costs the upload. Every input (each context file's sha256
and the base image's id) is hashed into the label ``benchfarm.node.inputs``; when
the image tagged ``benchfarm-node:<version>`` already carries the same digest,
``ensure`` returns it without calling the engine's builder at all. When the
inputs do change, the Dockerfile's layer order keeps the rebuild to the layers
after the first changed input (usually only benchfarm's own wheel).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from benchfarm.nodes.config import NodeFarmConfig
from benchfarm.nodes.errors import NodeImageError
from benchfarm.nodes.wheelhouse import build_project_wheel, ensure_wheelhouse, runtime_closure, sha256_file

Progress = Callable[[str], None]

LABEL_IMAGE = "benchfarm.node.image"
LABEL_INPUTS = "benchfarm.node.inputs"
LABEL_BASE = "benchfarm.node.base"
LABEL_VERSION = "benchfarm.node.version"
REQUIREMENTS_FILE = "requirements-node.txt"


def _quiet(_: str) -> None:
    return None


def _steps_only(progress: Progress) -> Progress:
    """Pass on the builder's ``Step n/m`` lines, not apt's and pip's chatter (the engine keeps that in the error)."""
    def forward(line: str) -> None:
        if line.startswith(("Step ", "Successfully built")):
            first = line.splitlines()[0]
            progress(first if len(first) <= 100 else first[:97] + "...")
    return forward


class ImageEngine(Protocol):
    """What the builder needs from the Docker image adapter (``DockerImages`` fits)."""

    def exists(self, ref: str) -> bool: ...
    def get(self, ref: str) -> Any: ...
    def build(self, context: Path, *, buildargs: dict[str, str], labels: dict[str, str], network: str,
              progress: Progress = ..., nocache: bool = False) -> str: ...
    def tag(self, image_id: str, repository: str, tag: str) -> None: ...


@dataclass(frozen=True)
class NodeImage:
    """A usable node image."""

    ref: str         # benchfarm-node:<version>
    image_id: str
    inputs: str      # sha256 of everything it was built from
    built: bool      # False when an image with the same inputs was reused as it was
    seconds: float   # how long ``ensure`` took


def inputs_digest(context: Path, base_id: str) -> str:
    """sha256 over the base image id and every file of the build context (path and content)."""
    h = hashlib.sha256(f"base {base_id}\n".encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        rel = path.relative_to(context).as_posix()
        mode = "x" if os.access(path, os.X_OK) else "-"
        h.update(f"{rel} {mode} {sha256_file(path)}\n".encode())
    return h.hexdigest()


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class NodeImageBuilder:
    """Builds (or finds) the node image through the Docker image adapter."""

    def __init__(self, images: ImageEngine, config: NodeFarmConfig) -> None:
        self.images = images
        self.config = config

    def assemble_context(self, target: Path, progress: Progress = _quiet) -> tuple[Path, str]:
        """Write the full build context under ``target``; returns it and benchfarm's version.

        Raises:
            NodeImageError: images/node is missing, or the wheels cannot be made.
        """
        cfg = self.config
        if not (cfg.image_context / "Dockerfile").is_file():
            raise NodeImageError(f"{cfg.image_context}/Dockerfile does not exist",
                                 hint="run from a benchfarm checkout (images/node)")
        ensure_wheelhouse(cfg.lock_file, cfg.wheelhouse, cfg.python, progress)
        context = target / "context"
        shutil.copytree(cfg.image_context, context, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        wheel = build_project_wheel(cfg.repo_root, context / "dist", cfg.python, progress)
        closure = runtime_closure(wheel, cfg.wheelhouse, cfg.lock_file, cfg.python)
        (context / "wheelhouse").mkdir()
        for w in closure:
            _link_or_copy(w.path, context / "wheelhouse" / w.path.name)
        (context / "wheelhouse" / REQUIREMENTS_FILE).write_text(
            "".join(f"{w.name}=={w.version}\n" for w in closure))
        version = wheel.name.split("-")[1]
        progress(f"node image context: benchfarm {version} and {len(closure)} locked dependencies")
        return context, version

    def ensure(self, progress: Progress = _quiet, *, force: bool = False) -> NodeImage:
        """The node image for the current tree, building it only when its inputs changed.

        Tags ``benchfarm-node:<version>`` and ``benchfarm-node:latest``.

        Raises:
            NodeImageError: the golden base is missing, or the wheels cannot be made.
            ImageBuildError: ``docker build`` failed (the message carries the step's output).
        """
        started = time.monotonic()
        self._base_id()  # fail before building wheels when the base is missing
        scratch = self.config.cache_dir / "node-image"
        scratch.mkdir(parents=True, exist_ok=True)
        # under the cache dir, so the wheels are hard links into the wheelhouse, not copies
        with tempfile.TemporaryDirectory(prefix="context-", dir=scratch) as tmp:
            context, version = self.assemble_context(Path(tmp), progress)
            image = self.build_context(context, version, progress, force=force)
        return replace(image, seconds=time.monotonic() - started)

    def build_context(self, context: Path, version: str, progress: Progress = _quiet, *,
                      force: bool = False) -> NodeImage:
        """Build ``context`` as ``benchfarm-node:<version>``, or reuse the image already built from the same inputs.

        Raises:
            NodeImageError: the golden base is missing.
            ImageBuildError: ``docker build`` failed.
        """
        started = time.monotonic()
        cfg = self.config
        base_id = self._base_id()
        digest = inputs_digest(context, base_id)
        ref = f"{cfg.image_repository}:{version}"
        if not force and self.images.exists(ref):
            current = self.images.get(ref)
            if dict(current.labels).get(LABEL_INPUTS) == digest:
                progress(f"{ref} is up to date ({str(current.id)[:19]})")
                self.images.tag(current.id, cfg.image_repository, "latest")
                return NodeImage(ref=ref, image_id=str(current.id), inputs=digest, built=False,
                                 seconds=time.monotonic() - started)
        progress(f"building {ref} FROM {cfg.base_image} (inputs {digest[:12]})")
        labels = {LABEL_IMAGE: "1", LABEL_INPUTS: digest, LABEL_BASE: base_id, LABEL_VERSION: version}
        image_id = self.images.build(context, buildargs={"BASE": cfg.base_image}, labels=labels,
                                     network="host", progress=_steps_only(progress), nocache=force)
        for tag in (version, "latest"):
            self.images.tag(image_id, cfg.image_repository, tag)
        progress(f"tagged {ref} and {cfg.image_repository}:latest = {image_id[:19]}")
        return NodeImage(ref=ref, image_id=image_id, inputs=digest, built=True, seconds=time.monotonic() - started)

    def _base_id(self) -> str:
        base = self.config.base_image
        if not self.images.exists(base):
            raise NodeImageError(f"the golden base {base} is not in the engine; the node image builds FROM it",
                                 hint="build it with `benchfarm image build base`")
        return str(self.images.get(base).id)
