"""What the node provider needs from a container engine: the facts it reads and the calls it makes.

Plain data and a Protocol, so the manager is written (and unit-tested with a fake)
without the Docker SDK; ``benchfarm.adapters.docker_nodes.NodeEngine`` implements it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class NetworkFacts:
    """A Docker network as the farm uses it."""

    id: str
    name: str
    subnet: str
    gateway: str
    internal: bool
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerFacts:
    """What the node provider reads from ``docker inspect`` of a container."""

    id: str
    name: str
    status: str
    labels: dict[str, str]
    image: str
    pid: int
    addresses: dict[str, str]  # network name -> IPv4 address
    cpuset: str
    memory: int
    exit_code: int | None
    oom_killed: bool
    image_id: str = ""  # the id of the image it was created from ("" when unknown)


@dataclass(frozen=True)
class NodeRunRequest:
    """Everything that differs between two node containers."""

    name: str            # container name
    hostname: str
    image: str
    labels: dict[str, str]
    cpuset: str
    memory: int          # bytes; swap is not allowed beyond it
    volume: str          # named volume mounted at /var/lib/docker
    network: str
    environment: dict[str, str]
    stop_timeout: int = 20


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a node (``docker exec``) ended with."""

    exit_code: int
    output: str          # stdout and stderr interleaved


class NodeEngineAPI(Protocol):
    """The engine calls the node manager makes."""

    def network(self, name: str) -> NetworkFacts | None: ...
    def create_network(self, name: str, *, bridge: str, subnet: str | None, internal: bool, icc: bool,
                       labels: dict[str, str]) -> NetworkFacts: ...
    def remove_network(self, name: str) -> bool: ...
    def volume_labels(self, name: str) -> dict[str, str] | None: ...
    def create_volume(self, name: str, labels: dict[str, str]) -> None: ...
    def remove_volume(self, name: str) -> bool: ...
    def volumes(self, label: str) -> list[str]: ...
    def run_node(self, req: NodeRunRequest) -> str: ...
    def container(self, name_or_id: str) -> ContainerFacts | None: ...
    def containers(self, label: str) -> list[ContainerFacts]: ...
    def remove_container(self, name_or_id: str) -> bool: ...
    def start_container(self, name_or_id: str) -> None: ...
    def logs(self, name_or_id: str, tail: int = 40) -> str: ...
    def exec(self, name_or_id: str, argv: list[str], *, stdin: Iterable[bytes] | None = None,
             timeout: float = 120.0, environment: dict[str, str] | None = None) -> ExecResult: ...
    def save_image(self, ref: str) -> Iterator[bytes]: ...
    def image_id(self, ref: str) -> str | None: ...
