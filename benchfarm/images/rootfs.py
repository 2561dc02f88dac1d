"""The golden base's root filesystem: debootstrap once, cache the tarball, import it once.

The tarball lives under ``settings.cache_dir/images/rootfs/<suite>-minbase.tar``
so rebuilds skip debootstrap. The imported image is tagged
``benchfarm/rootfs:<suite>-<sha256 of the tarball, 12 hex>``; when that tag
exists the import is skipped too, which keeps the base's digest stable
(``docker import`` stamps a new creation time on every import).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from benchfarm.errors import ImageBuildError, SetupError

ROOTFS_REPOSITORY = "benchfarm/rootfs"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


class ImageImporter(Protocol):
    """What this module needs from the Docker adapter (``DockerImages`` fits)."""

    def exists(self, ref: str) -> bool: ...
    def get(self, ref: str) -> Any: ...
    def import_rootfs(self, tarball: Path, repository: str, tag: str, changes: list[str]) -> str: ...


@dataclass(frozen=True)
class Rootfs:
    suite: str
    tarball: Path
    sha256: str
    ref: str
    image_id: str


def tarball_path(cache_dir: Path, suite: str) -> Path:
    return cache_dir / "images" / "rootfs" / f"{suite}-minbase.tar"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def debootstrap_tarball(target: Path, suite: str, mirror: str = DEFAULT_MIRROR,
                        progress: Callable[[str], None] = lambda _: None) -> Path:
    """Run ``debootstrap --variant=minbase`` and pack the tree into ``target`` (atomically).

    Raises:
        SetupError: debootstrap is missing or we are not root.
        ImageBuildError: debootstrap failed (the message carries its last lines).
    """
    if shutil.which("debootstrap") is None:
        raise SetupError("debootstrap is not installed", hint="apt-get install debootstrap")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="benchfarm-rootfs-", dir=target.parent) as tmp:
        tree = Path(tmp) / "tree"
        progress(f"debootstrap --variant=minbase {suite} (about a minute)")
        done = subprocess.run(["debootstrap", "--variant=minbase", suite, str(tree), mirror],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
            raise ImageBuildError(f"debootstrap {suite} failed (exit {done.returncode}):\n{tail}",
                                  hint="check the package mirror is reachable and that you are root")
        partial = target.with_suffix(".tar.partial")
        progress(f"packing the rootfs into {target}")
        subprocess.run(["tar", "--numeric-owner", "--sort=name", "-C", str(tree), "-cf", str(partial), "."],
                       check=True)
        partial.replace(target)
    return target


def ensure_rootfs(images: ImageImporter, cache_dir: Path, suite: str,
                  progress: Callable[[str], None] = lambda _: None) -> Rootfs:
    """The imported rootfs image of ``suite``, debootstrapping and importing only what is missing."""
    tarball = tarball_path(cache_dir, suite)
    if tarball.is_file():
        progress(f"using the cached rootfs {tarball}")
    else:
        debootstrap_tarball(tarball, suite, progress=progress)
    digest = _sha256(tarball)
    tag = f"{suite}-{digest[:12]}"
    ref = f"{ROOTFS_REPOSITORY}:{tag}"
    if images.exists(ref):
        progress(f"rootfs image {ref} already imported")
    else:
        progress(f"docker import {tarball.name} as {ref}")
        images.import_rootfs(tarball, ROOTFS_REPOSITORY, tag, changes=[
            f'LABEL benchfarm.rootfs.sha256="{digest}" benchfarm.rootfs.suite="{suite}" '
            f'benchfarm.rootfs.variant="minbase"',
            'CMD ["/bin/bash"]',
        ])
    return Rootfs(suite=suite, tarball=tarball, sha256=digest, ref=ref, image_id=images.get(ref).id)
