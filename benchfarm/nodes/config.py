"""The node provider's settings, with their defaults in one place.

Built from the farm's ``Settings`` (paths, the Docker URL) plus the node-only
values below. These belong in ``benchfarm.settings.Settings`` once nodes are
wired into the composition root; until then ``from_settings`` reads the farm's
paths and keeps the rest here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from benchfarm.settings import Settings


@dataclass(frozen=True)
class NodeFarmConfig:
    """Where nodes come from and how they are wired."""

    docker_url: str = "unix:///var/run/docker.sock"
    repo_root: Path = Path(".")
    cache_dir: Path = Path("/var/cache/benchfarm")
    # the Docker network the farm creates for its nodes: internal (no route out of the host),
    # no traffic between nodes (icc off); nodes reach the host at its gateway address only
    network: str = "benchfarm-nodes"
    bridge: str = "bf-nodes"            # the host interface's name (at most 15 characters)
    subnet: str | None = None           # None: the engine picks a free one from its pools
    image_repository: str = "benchfarm-node"
    base_image: str = "benchfarm/base:latest"
    # what the node's init starts: its engine always; sshd for the bare-metal path
    services: tuple[str, ...] = ("dockerd",)
    dockerd_args: tuple[str, ...] = ()  # extra flags for the node's dockerd (e.g. --insecure-registry)
    ready_timeout_s: float = 90.0
    stop_timeout_s: int = 20
    python: Path = field(default_factory=lambda: Path(sys.executable))

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> NodeFarmConfig:
        """The config for the farm described by ``settings``; keyword arguments override fields."""
        values: dict[str, object] = {"docker_url": settings.docker_url, "repo_root": settings.repo_root,
                                     "cache_dir": settings.cache_dir}
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def wheelhouse(self) -> Path:
        """Wheels of every locked dependency, filled once per lock (``pip wheel --require-hashes``)."""
        return self.cache_dir / "wheelhouse"

    @property
    def lock_file(self) -> Path:
        return self.repo_root / "requirements.lock"

    @property
    def image_context(self) -> Path:
        """The Dockerfile and scripts of the node image."""
        return self.repo_root / "images" / "node"
