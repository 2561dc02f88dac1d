"""The node provider's settings, with their defaults in one place.

Built from the farm's ``Settings``: paths, the Docker URL, the node network
(``node_network``, ``node_bridge``, ``node_subnet``), the service ports relayed to
nodes and the settings their workers share with the host (``benchfarm.nodes.link``).
The values only the provider uses (image names, timeouts) keep their defaults here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchfarm.nodes.link import ForwardedPort, forwarded_ports, shared_settings
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
    # what the node's init starts: its engine always; sshd for the bare-metal path. The `forward` service
    # (the node's end of the relay to the farm's services) is put first whenever ``forward`` names ports.
    services: tuple[str, ...] = ("dockerd",)
    dockerd_args: tuple[str, ...] = ()  # extra flags for the node's dockerd
    # farm service ports relayed into each node (its 127.0.0.1:port reaches the host's service)
    forward: tuple[ForwardedPort, ...] = ()
    # the host's settings a node's worker shares (service addresses, farm-wide knobs); see nodes/link.py
    worker_settings: dict[str, Any] = field(default_factory=dict)
    ready_timeout_s: float = 90.0
    worker_timeout_s: float = 90.0      # from starting a node's worker to its first heartbeat in the registry
    stop_timeout_s: int = 20
    python: Path = field(default_factory=lambda: Path(sys.executable))

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> NodeFarmConfig:
        """The config for the farm described by ``settings``; keyword arguments override fields."""
        values: dict[str, object] = {"docker_url": settings.docker_url, "repo_root": settings.repo_root,
                                     "cache_dir": settings.cache_dir, "network": settings.node_network,
                                     "bridge": settings.node_bridge, "subnet": settings.node_subnet,
                                     "forward": forwarded_ports(settings),
                                     "worker_settings": shared_settings(settings)}
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def node_services(self) -> tuple[str, ...]:
        """The services a node's init starts, in order: the relay first (if a port is forwarded), then ``services``."""
        first = ("forward",) if self.forward and "forward" not in self.services else ()
        return first + self.services

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
