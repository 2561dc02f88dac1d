"""Create, list and remove nodes; run commands in them; load images into their engines.

A node is made in four steps, each checked before the next:

1. the spec is valid and fits this machine (CPU set within its CPUs, memory above
   the minimum), and the name is free (or already a node with the same spec: then
   ``create`` is a no-op that returns it);
2. the farm's node network exists (``ensure_network``), and the node's volume;
3. the container starts with the node options (``adapters.docker_nodes``);
4. the node is *ready*: its init wrote its cgroup, its dockerd answers, and the
   host's own cgroupfs agrees — the cgroup the host kernel has the node's PID 1
   in is the one the node's engine nests its containers under, with the CPU set
   and memory limit that were asked for.

A node that fails step 3 or 4 is removed again (container, and the volume if this
call made it), and the error carries the tail of the node's logs.

A node's worker is started by ``benchfarm.nodes.worker``. Removing a node retires its
host in the registry first, so no job is routed to it while its worker dies with the
container.
"""

from __future__ import annotations

import builtins
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from benchfarm.errors import BenchfarmError, NotFoundError, SetupError
from benchfarm.nodes.cgroups import HostCgroups
from benchfarm.nodes.config import NodeFarmConfig
from benchfarm.nodes.engine import ContainerFacts, ExecResult, NetworkFacts, NodeEngineAPI, NodeRunRequest
from benchfarm.nodes.errors import EngineConflictError, NodeNameTakenError, NodeNotFoundError, NodeStartError
from benchfarm.nodes.model import (
    LABEL_CPUS,
    LABEL_MEMORY,
    LABEL_NETWORK,
    LABEL_NODE,
    LABEL_POOL,
    Node,
    NodeCgroup,
    NodeSpec,
    container_name,
    volume_name,
)
from benchfarm.nodes.resources import format_cpu_list, format_size, host_cpus

Progress = Callable[[str], None]

# written by images/node/benchfarm-node-init; the node's dockerd gets <node cgroup>/NESTED as --cgroup-parent
STATE_DIR = "/run/benchfarm-node"
NESTED = "nested"
NETWORK_LABEL_VALUE = "nodes"


def _quiet(_: str) -> None:
    return None


class HostRoster(Protocol):
    """What the manager needs of the scheduler's host registry (``HostRegistry`` fits)."""

    def workers_seen(self) -> dict[str, float]:
        """host id -> epoch seconds of its worker's last heartbeat."""
        ...

    def retire(self, host_id: str) -> bool:
        """Take a host out of scheduling for good; False when it was not registered."""
        ...

    def refusal(self, host_id: str) -> str | None:
        """Why the host takes no job now (``host X is quarantined``), or None."""
        ...


class NodeManager:
    """The node provider: nodes as containers of the local Docker engine."""

    def __init__(self, engine: NodeEngineAPI, config: NodeFarmConfig, *, cgroups: HostCgroups | None = None,
                 hosts: HostRoster | None = None, machine_cpus: Callable[[], frozenset[int]] = host_cpus,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.engine = engine
        self.config = config
        self.cgroups = cgroups or HostCgroups()
        self.hosts = hosts
        self.machine_cpus = machine_cpus
        self.clock = clock
        self.sleep = sleep

    # network -----------------------------------------------------------------
    def ensure_network(self) -> NetworkFacts:
        """The farm's node network, created when missing: an internal bridge without traffic between nodes.

        Nodes reach the host at the network's gateway address and nothing beyond the host
        (no route out, no masquerading); see images/node/README.md for what listens there.

        Raises:
            SetupError: a network of that name exists but the farm did not make it.
        """
        name = self.config.network
        found = self.engine.network(name)
        if found is None:
            try:
                found = self.engine.create_network(
                    name, bridge=self.config.bridge, subnet=self.config.subnet, internal=True, icc=False,
                    labels={LABEL_NETWORK: NETWORK_LABEL_VALUE})
            except EngineConflictError:  # made by a concurrent caller
                found = self.engine.network(name)
                if found is None:
                    raise
        if found.labels.get(LABEL_NETWORK) != NETWORK_LABEL_VALUE:
            raise SetupError(f"a Docker network named {name} exists but was not created by benchfarm for its nodes",
                             hint=f"remove it (`docker network rm {name}`) or choose another network name")
        return found

    def remove_network(self) -> bool:
        """Remove the node network; False when it was not there.

        Raises:
            BenchfarmError: nodes are still attached (remove them first).
        """
        return self.engine.remove_network(self.config.network)

    # queries -----------------------------------------------------------------
    def list(self) -> builtins.list[Node]:
        """Every node of this engine, by name."""
        nodes = [self._node(c) for c in self.engine.containers(LABEL_NODE)]
        return sorted(nodes, key=lambda n: n.name)

    def find(self, name: str) -> Node | None:
        """The node called ``name``; None when there is none."""
        facts = self.engine.container(container_name(name))
        if facts is None or facts.labels.get(LABEL_NODE) != name:
            return None
        return self._node(facts)

    def get(self, name: str) -> Node:
        """The node called ``name``.

        Raises:
            NodeNotFoundError: there is none.
        """
        node = self.find(name)
        if node is None:
            raise NodeNotFoundError(f"no node named {name}", hint="see `benchfarm nodes list`")
        return node

    # lifecycle ---------------------------------------------------------------
    def check(self, spec: NodeSpec) -> Node | None:
        """Check, without changing anything, that ``spec`` can be created; returns the node when it exists already.

        Raises:
            NodeSpecError: the CPU set is outside this machine's CPUs.
            NodeNameTakenError: the name is held by a node with another spec, or by a container that is
                not a node's.
        """
        spec.check_fits(self.machine_cpus())
        existing = self.engine.container(spec.container_name)
        return None if existing is None else self._claim(spec, existing)

    def create(self, spec: NodeSpec, image: str, progress: Progress = _quiet, *,
               services: Sequence[str] | None = None, authorized_keys: str = "",
               labels: Mapping[str, str] | None = None) -> Node:
        """Start node ``spec.name`` from ``image`` and wait until it is ready (see the module docstring).

        Idempotent: a running node with the same spec is returned as it is; a stopped one
        (its container died) is started again as it was, disk included, like a machine powered
        on again; one stopped with another image than ``image`` is started afresh on its volume.

        ``services`` replaces the config's services for this node (e.g. ``dockerd sshd`` for a
        bare-metal-like node that salt-cloud's saltify enrolls over SSH); ``authorized_keys``
        (OpenSSH lines) lets those keys log in as root (images/node/services.d/sshd.sh);
        ``labels`` are added to the container's (the salt-cloud driver marks the nodes it made).

        Raises:
            NodeSpecError: the CPU set is outside this machine's CPUs.
            NodeNameTakenError: the name is held by a node with another spec, or by a container
                or volume that is not a node's.
            NodeStartError: the node did not become ready (the message carries its logs).
            NotFoundError: ``image`` is not in the engine.
        """
        node = self.check(spec)
        if node is not None:
            if node.running:
                progress(f"node {spec.name} already runs with this spec")
                self.wait_ready(spec.name)
                return self.get(spec.name)
            facts = self.engine.container(node.container_id)
            if facts is not None and facts.image_id and facts.image_id == self.engine.image_id(image):
                # like a machine powered on again: its disk is kept, so what its worker had not delivered yet
                # (documents spooled while Elasticsearch was away, in its state dir) goes out once it runs; a
                # node started afresh lost them (bench/faults.py, issue 12)
                progress(f"node {spec.name} exists but is {node.status}: starting it again as it was")
                try:
                    self.engine.start_container(node.container_id)
                except BenchfarmError as exc:  # seen after the host's dockerd restarted (its network endpoint was gone)
                    progress(f"node {spec.name} did not start again ({exc.message}): starting it afresh on its volume")
                else:
                    self.wait_ready(spec.name, progress)
                    return self.get(spec.name)
            else:
                progress(f"node {spec.name} exists but is {node.status} with another image: starting it afresh on "
                         "its volume")
            self.engine.remove_container(node.container_id)
        if self.engine.image_id(image) is None:
            raise NotFoundError(f"the node image {image} is not in the engine",
                                hint="build it with `benchfarm nodes image` (or let `benchfarm nodes add` build it)")
        network = self.ensure_network()
        made_volume = self._ensure_volume(spec)
        progress(f"starting node {spec.name}: CPUs {spec.cpuset}, {format_size(spec.memory)}, pool {spec.pool}, "
                 f"network {network.name} (host at {network.gateway})")
        config = self.config if services is None else dataclasses.replace(self.config, services=tuple(services))
        env = {"BENCHFARM_NODE_NAME": spec.name, "BENCHFARM_NODE_POOL": spec.pool,
               "BENCHFARM_NODE_SERVICES": " ".join(config.node_services),
               "BENCHFARM_NODE_DOCKERD_ARGS": " ".join(self.config.dockerd_args),
               "BENCHFARM_NODE_HOST_ADDRESS": network.gateway,
               # PORT:TARGET:PORT per farm service; the node's `forward` service relays 127.0.0.1:PORT to
               # <gateway>:PORT (images/node/services.d/forward.sh)
               "BENCHFARM_NODE_FORWARD": " ".join(f.as_arg() for f in self.config.forward)}
        if authorized_keys:
            env["BENCHFARM_NODE_AUTHORIZED_KEYS"] = authorized_keys
        request = NodeRunRequest(name=spec.container_name, hostname=spec.name, image=image,
                                 labels={**spec.labels(), **(labels or {})},
                                 cpuset=spec.cpuset, memory=spec.memory, volume=spec.volume_name,
                                 network=network.name, environment=env, stop_timeout=self.config.stop_timeout_s)
        try:
            self.engine.run_node(request)
        except EngineConflictError as exc:
            if made_volume:
                self.engine.remove_volume(spec.volume_name)
            raise NodeNameTakenError(f"the name {spec.name} was taken while the node was being created",
                                     hint="choose another name, or remove the other node first") from exc
        except BenchfarmError:
            if made_volume:
                self.engine.remove_volume(spec.volume_name)
            raise
        try:
            self.wait_ready(spec.name, progress)
        except BaseException:
            self.engine.remove_container(spec.container_name)
            if made_volume:
                self.engine.remove_volume(spec.volume_name)
            raise
        return self.get(spec.name)

    def wait_ready(self, name: str, progress: Progress = _quiet) -> NodeCgroup:
        """Wait until node ``name`` is ready; returns where its cgroups are.

        Ready means: the node's init wrote its cgroup and started its services, the
        node's dockerd answers ``docker info``, and the host's cgroupfs has the node's
        PID 1 in exactly that cgroup, with the node's CPU set and memory limit.

        Raises:
            NodeNotFoundError: no such node.
            NodeStartError: the node stopped, its init failed, it is not ready within
                ``ready_timeout_s``, or the host's cgroupfs disagrees with the node.
        """
        node = self.get(name)
        deadline = self.clock() + self.config.ready_timeout_s
        last = ""
        forward_check = ("benchfarm-node-service status forward >/dev/null 2>&1 || exit 13; "
                         if "forward" in self.config.node_services else "")
        while True:
            facts = self.engine.container(node.container_name)
            if facts is None or facts.status != "running":
                raise NodeStartError(f"node {name} stopped while starting "
                                     f"(status {facts.status if facts else 'gone'})" + self._log_tail(node),
                                     hint="read the node's log above")
            probe = self.engine.exec(node.container_name, [
                "sh", "-c", f"cat {STATE_DIR}/failed 2>/dev/null && exit 10; "
                            f"test -f {STATE_DIR}/started || exit 11; "
                            f"cat {STATE_DIR}/cgroup-mode {STATE_DIR}/cgroup-node {STATE_DIR}/cgroup-parent; "
                            f"{forward_check}"
                            "docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 || exit 12"], timeout=30)
            if probe.exit_code == 10:
                raise NodeStartError(f"node {name}: its init failed: {probe.output.strip()}" + self._log_tail(node),
                                     hint="read the node's log above")
            if probe.exit_code == 0:
                mode, node_cg, parent = [*probe.output.split(), "", "", ""][:3]
                return self._check_cgroup(node, facts, NodeCgroup(mode=mode, path=node_cg, nested_parent=parent))
            last = {11: "its init has not started its services", 12: "its dockerd does not answer yet",
                    13: "its forward service (the relay to the farm's services) is not running"}.get(
                probe.exit_code, probe.output.strip()[-200:])
            if self.clock() > deadline:
                raise NodeStartError(
                    f"node {name} was not ready after {self.config.ready_timeout_s:.0f} s: {last}"
                    + self._log_tail(node),
                    hint="read the node's log above; a slow machine may need a longer ready timeout")
            self.sleep(0.25)

    def remove(self, name: str, progress: Progress = _quiet) -> bool:
        """Remove node ``name``: retire its host in the registry, then its container (killing what runs in it,
        its worker included) and its volume.

        Retiring comes first, so the scheduler routes no new job to the node while it goes; a job it
        was running is the reaper's (its lease runs out). Idempotent: False when there was nothing
        to remove (no container, no volume, no registered host).

        Raises:
            NodeNameTakenError: the container of that name is not a node's.
            ServiceUnavailableError: the host registry (Redis) does not answer; nothing was removed.
        """
        removed = False
        facts = self.engine.container(container_name(name))
        if facts is not None and facts.labels.get(LABEL_NODE) != name:
            raise NodeNameTakenError(f"the container {facts.name} is not a benchfarm node; not removing it",
                                     hint="remove it yourself if it is yours")
        if self.hosts is not None and self.hosts.retire(name):
            progress(f"host {name} retired in the registry (no new job goes to it)")
            removed = True
        if facts is not None:
            progress(f"removing node {name} (container {facts.id[:12]})")
            removed = self.engine.remove_container(facts.id) or removed
            if self.hosts is not None:
                self.hosts.retire(name)  # drops a heartbeat its worker wrote meanwhile
        vol_labels = self.engine.volume_labels(volume_name(name))
        if vol_labels is not None and vol_labels.get(LABEL_NODE) == name:
            progress(f"removing volume {volume_name(name)}")
            removed = self.engine.remove_volume(volume_name(name)) or removed
        return removed

    # inside a node -------------------------------------------------------------
    def exec(self, name: str, argv: builtins.list[str], *, timeout: float = 120.0) -> ExecResult:
        """Run ``argv`` in running node ``name`` (as root); returns its status and output.

        Raises:
            NodeNotFoundError: no such node.
            NodeStartError: the node is not running.
        """
        node = self.get(name)
        if not node.running:
            raise NodeStartError(f"node {name} is {node.status}, not running", hint=f"`benchfarm nodes add {name}` "
                                 "with its spec starts it again")
        return self.engine.exec(node.container_name, argv, timeout=timeout)

    def load_image(self, name: str, ref: str, *, timeout: float = 600.0) -> str:
        """Copy image ``ref`` from the host's engine into node ``name``'s (``docker save | docker load``).

        Returns ``docker load``'s output.

        Raises:
            NotFoundError: no such image on the host.
            NodeStartError: the node is not running.
            BenchfarmError: ``docker load`` in the node failed.
        """
        node = self.get(name)
        if not node.running:
            raise NodeStartError(f"node {name} is {node.status}, not running", hint="start it first")
        if self.engine.image_id(ref) is None:
            raise NotFoundError(f"image {ref} is not in the host's engine", hint="build or pull it first")
        result = self.engine.exec(node.container_name, ["docker", "load"], stdin=self.engine.save_image(ref),
                                  timeout=timeout)
        if result.exit_code != 0:
            raise BenchfarmError(f"loading {ref} into node {name} failed (exit {result.exit_code}): "
                                 f"{result.output.strip()[-500:]}", hint="is the node's disk (its volume) full?")
        return result.output.strip()

    # helpers -------------------------------------------------------------------
    def _node(self, facts: ContainerFacts) -> Node:
        labels = facts.labels
        cgroup = None
        if facts.status == "running" and facts.pid > 0:
            try:
                path = self.cgroups.of_pid(facts.pid)
                cgroup = NodeCgroup(mode=self.cgroups.mode, path=path, nested_parent=f"{path}/{NESTED}")
            except (OSError, LookupError):
                cgroup = None  # the process ended between inspect and read
        return Node(name=labels.get(LABEL_NODE, ""), pool=labels.get(LABEL_POOL, ""),
                    cpuset=labels.get(LABEL_CPUS, facts.cpuset), memory=int(labels.get(LABEL_MEMORY) or facts.memory),
                    container_id=facts.id, container_name=facts.name, status=facts.status, image=facts.image,
                    address=facts.addresses.get(self.config.network, ""),
                    volume=volume_name(labels.get(LABEL_NODE, "")),
                    cgroup=cgroup)

    def _claim(self, spec: NodeSpec, existing: ContainerFacts) -> Node:
        """The node behind an existing container of the node's name, if it is this very node."""
        if existing.labels.get(LABEL_NODE) != spec.name:
            raise NodeNameTakenError(f"a container named {existing.name} exists and is not a benchfarm node",
                                     hint="choose another node name")
        node = self._node(existing)
        if node.spec() != spec:
            raise NodeNameTakenError(
                f"node {spec.name} exists with pool {node.pool}, CPUs {node.cpuset}, {format_size(node.memory)}",
                hint=f"choose another name, or `benchfarm nodes remove {spec.name}` first")
        return node

    def _ensure_volume(self, spec: NodeSpec) -> bool:
        """Make the node's volume; True when this call made it."""
        labels = self.engine.volume_labels(spec.volume_name)
        if labels is None:
            self.engine.create_volume(spec.volume_name, {LABEL_NODE: spec.name, LABEL_POOL: spec.pool})
            return True
        if labels.get(LABEL_NODE) != spec.name:
            raise NodeNameTakenError(f"a volume named {spec.volume_name} exists and is not node {spec.name}'s",
                                     hint="choose another node name")
        return False

    def _check_cgroup(self, node: Node, facts: ContainerFacts, reported: NodeCgroup) -> NodeCgroup:
        """Compare what the node says about its cgroup with the host's cgroupfs; raise NodeStartError if they differ."""
        try:
            host_path = self.cgroups.of_pid(facts.pid)
        except (OSError, LookupError) as exc:
            raise NodeStartError(f"node {node.name}: cannot read the cgroup of its PID 1 ({facts.pid}) on the host",
                                 hint="nodes must run on this machine's engine") from exc
        problems = []
        if reported.mode != self.cgroups.mode:
            problems.append(f"the node sees cgroup {reported.mode}, the host {self.cgroups.mode}")
        if reported.path != host_path:
            problems.append(f"the node says its cgroup is {reported.path}, the host has it in {host_path}")
        if reported.nested_parent != f"{host_path}/{NESTED}":
            problems.append(f"its dockerd nests containers under {reported.nested_parent}, not under {host_path}")
        if not problems:
            want_cpus = node.spec().cpus
            cpus = self.cgroups.cpus(host_path)
            if cpus != want_cpus:
                problems.append(f"the host's cpuset of the node is {format_cpu_list(cpus)}, "
                                f"not {format_cpu_list(want_cpus)}")
            limit = self.cgroups.effective_memory_limit(host_path)
            if limit is None or limit > node.memory:
                problems.append(f"the host's memory limit of the node is {limit}, not {node.memory}")
        if problems:
            raise NodeStartError(f"node {node.name} is not confined as asked: " + "; ".join(problems),
                                 hint="the node must run with --cgroupns host and the host's /sys/fs/cgroup mounted")
        return NodeCgroup(mode=reported.mode, path=host_path, nested_parent=reported.nested_parent)

    def _log_tail(self, node: Node) -> str:
        text = self.engine.logs(node.container_name, tail=20).strip()
        try:
            inner = self.engine.exec(node.container_name,
                                     ["tail", "-n", "20", "/var/log/benchfarm-node/dockerd.log"], timeout=10)
            if inner.exit_code == 0 and inner.output.strip():
                text += "\n--- dockerd.log\n" + inner.output.strip()
        except BenchfarmError:
            pass
        return f"\n{text}" if text else ""
