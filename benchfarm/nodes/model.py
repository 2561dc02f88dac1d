"""What a node is asked to be (``NodeSpec``) and what the engine says it is (``Node``).

Names and labels are chosen here, in one place, so that listing, removing and the
later salt-cloud driver agree on them: the container is ``benchfarm-node-NAME``
(hostname NAME), its engine's storage the volume ``benchfarm-node-NAME-docker``,
and both carry the labels ``benchfarm.node=NAME`` and ``benchfarm.pool=POOL``.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from benchfarm.nodes.errors import NodeSpecError
from benchfarm.nodes.resources import format_cpu_list, format_size, parse_cpu_list, parse_memory

LABEL_NODE = "benchfarm.node"
LABEL_POOL = "benchfarm.pool"
LABEL_CPUS = "benchfarm.node.cpus"
LABEL_MEMORY = "benchfarm.node.memory"
LABEL_NETWORK = "benchfarm.network"
CONTAINER_PREFIX = "benchfarm-node-"

# a DNS label (it becomes the node's hostname and later its minion id), short enough for the names below
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
_POOL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")

# dockerd, containerd and the shims take ~100 MiB; sshd, a salt-minion and a Celery worker
# ~250 MiB more; below this a node would OOM before running any benchmark
MIN_MEMORY = 512 << 20


@dataclass(frozen=True)
class NodeSpec:
    """A node as asked for: name, pool, CPU set and memory limit (validated on construction)."""

    name: str
    pool: str
    cpus: frozenset[int]
    memory: int

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise NodeSpecError(f"{self.name!r} is not a valid node name",
                                hint="use 1-32 lower-case letters, digits and dashes, starting and ending "
                                     "with a letter or digit (it becomes the node's hostname)")
        if not _POOL.match(self.pool):
            raise NodeSpecError(f"{self.pool!r} is not a valid pool name",
                                hint="use lower-case letters, digits, '.', '_' and '-'")
        if not self.cpus:
            raise NodeSpecError(f"node {self.name}: the CPU set is empty", hint="give at least one CPU, e.g. --cpus 0")
        if self.memory < MIN_MEMORY:
            raise NodeSpecError(
                f"node {self.name}: {format_size(self.memory)} of memory is too little for a node",
                hint=f"give at least {format_size(MIN_MEMORY)}: its dockerd, sshd, salt-minion and worker "
                     "need about that before any benchmark runs")

    @classmethod
    def parse(cls, name: str, pool: str, cpus: str, memory: str | int) -> NodeSpec:
        """A spec from command-line style values (``--cpus 0-1 --memory 1g``).

        Raises:
            NodeSpecError: any value is malformed or out of range.
        """
        return cls(name=name, pool=pool, cpus=parse_cpu_list(cpus), memory=parse_memory(memory))

    def check_fits(self, machine_cpus: AbstractSet[int]) -> None:
        """Raise NodeSpecError when the CPU set names a CPU this machine does not have."""
        outside = sorted(set(self.cpus) - set(machine_cpus))
        if outside:
            raise NodeSpecError(
                f"node {self.name}: CPU set {self.cpuset} is outside this machine's CPUs "
                f"{format_cpu_list(machine_cpus)} (no CPU {format_cpu_list(outside)})",
                hint=f"choose CPUs within {format_cpu_list(machine_cpus)}")

    @property
    def cpuset(self) -> str:
        """The CPU set in kernel form, as ``--cpuset-cpus`` takes it."""
        return format_cpu_list(self.cpus)

    @property
    def container_name(self) -> str:
        return container_name(self.name)

    @property
    def volume_name(self) -> str:
        return volume_name(self.name)

    def labels(self) -> dict[str, str]:
        """Labels of the node's container and volume (how nodes are found again)."""
        return {LABEL_NODE: self.name, LABEL_POOL: self.pool, LABEL_CPUS: self.cpuset,
                LABEL_MEMORY: str(self.memory)}


def container_name(node: str) -> str:
    return f"{CONTAINER_PREFIX}{node}"


def volume_name(node: str) -> str:
    """The named volume that holds the node engine's /var/lib/docker."""
    return f"{CONTAINER_PREFIX}{node}-docker"


@dataclass(frozen=True)
class NodeCgroup:
    """Where the host's cgroupfs holds a node, and where its engine puts nested containers."""

    mode: str            # "v1" or "v2"
    path: str            # the node's own cgroup, host-absolute (e.g. /docker/<container id>)
    nested_parent: str   # what the node's dockerd got as --cgroup-parent (<path>/nested)


@dataclass(frozen=True)
class Node:
    """A node as the engine reports it."""

    name: str
    pool: str
    cpuset: str
    memory: int
    container_id: str
    container_name: str
    status: str               # the container's: running, exited, created, ...
    image: str
    address: str = ""         # its IP on the farm's node network ("" when not running)
    volume: str = ""
    cgroup: NodeCgroup | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"

    def spec(self) -> NodeSpec:
        """The spec this node was created with (from its labels)."""
        return NodeSpec(name=self.name, pool=self.pool, cpus=parse_cpu_list(self.cpuset), memory=self.memory)

    def to_dict(self) -> dict:
        """JSON-safe form for ``nodes list --json``."""
        return {"name": self.name, "pool": self.pool, "cpus": self.cpuset, "memory_bytes": self.memory,
                "memory": format_size(self.memory), "status": self.status, "address": self.address,
                "container_id": self.container_id, "container": self.container_name, "image": self.image,
                "volume": self.volume,
                "cgroup": None if self.cgroup is None else {"mode": self.cgroup.mode, "path": self.cgroup.path,
                                                            "nested_parent": self.cgroup.nested_parent}}
