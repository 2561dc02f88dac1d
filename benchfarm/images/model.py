"""What the image pipeline knows of an image, and the Docker calls it makes.

The pipeline (builder, inspection, registry, manifests) works on these types;
:class:`benchfarm.adapters.docker_images.DockerImages` implements
:class:`ImageEngine` over docker-py, so no module here imports the SDK.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImageInfo:
    """What the farm needs from ``docker image inspect``: id, tags, registry digests, labels."""

    id: str
    tags: list[str]
    repo_digests: list[str]
    labels: dict[str, str]
    created: str
    size: int = 0
    parent: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> ImageInfo:
        config = attrs.get("Config") or {}
        return cls(
            id=attrs["Id"],
            tags=list(attrs.get("RepoTags") or []),
            repo_digests=list(attrs.get("RepoDigests") or []),
            labels=dict(config.get("Labels") or {}),
            created=attrs.get("Created", ""),
            size=int(attrs.get("Size") or 0),
            parent=attrs.get("Parent") or "",
        )


@dataclass(frozen=True)
class RunOutput:
    """Exit code and combined output of a one-off container (an image's validate self-test)."""

    exit_code: int
    output: str


class ImageEngine(Protocol):
    """The image calls of the Docker adapter the pipeline uses."""

    def get(self, ref: str) -> ImageInfo: ...
    def exists(self, ref: str) -> bool: ...
    def list(self, label: str | None = None) -> builtins.list[ImageInfo]: ...
    def build(self, context: Path, *, buildargs: dict[str, str], labels: dict[str, str], network: str,
              progress: Progress = ..., nocache: bool = False) -> str: ...
    def import_rootfs(self, tarball: Path, repository: str, tag: str, changes: builtins.list[str]) -> str: ...
    def run(self, image: str, command: builtins.list[str], *, timeout: float = 120,
            network: str = "none") -> RunOutput: ...
    def tag(self, image_id: str, repository: str, tag: str) -> None: ...
    def save(self, image: str) -> Iterator[bytes]: ...
    def push(self, repository: str, tag: str, progress: Progress = ...) -> str: ...
    def pull(self, ref: str) -> str: ...
    def in_registry(self, ref: str) -> bool: ...
