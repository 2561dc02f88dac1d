"""Nodes on the real engine: a container that behaves like a host, whose benchmark containers stay
inside its CPU set and memory, checked from the host's cgroupfs (not from inside the node).

The node image is built once per session (cached: an unchanged tree reuses it as it is). Every
node, volume and the session's own node network are removed in finalisers, also on failure.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from benchfarm.adapters.docker_images import DockerImages
from benchfarm.adapters.docker_nodes import NodeEngine
from benchfarm.nodes.cgroups import HostCgroups
from benchfarm.nodes.config import NodeFarmConfig
from benchfarm.nodes.errors import NodeNameTakenError, NodeSpecError
from benchfarm.nodes.image import NodeImage, NodeImageBuilder
from benchfarm.nodes.manager import NodeManager
from benchfarm.nodes.model import Node, NodeSpec
from benchfarm.nodes.resources import host_cpus
from benchfarm.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GiB = 1 << 30
SESSION = uuid.uuid4().hex[:6]


def _progress(message: str) -> None:
    sys.stderr.write(f"[nodes] {message}\n")


@pytest.fixture(scope="session")
def node_config(settings: Settings) -> NodeFarmConfig:
    # a node network of this session's own, so removing it never disturbs another farm's nodes
    return NodeFarmConfig.from_settings(settings, network=f"benchfarm-nodes-t{SESSION}", bridge=f"bft{SESSION}")


@pytest.fixture(scope="session")
def node_image(farm, catalogue_image, settings: Settings, node_config: NodeFarmConfig) -> NodeImage:
    """benchfarm-node:<version>, built from the golden base (built first when missing) once per session."""
    catalogue_image("base")
    images = DockerImages.from_settings(settings)
    try:
        return NodeImageBuilder(images, node_config).ensure(_progress)
    finally:
        images.close()


@pytest.fixture(scope="session")
def nodes(farm, node_config: NodeFarmConfig, settings: Settings) -> Iterator[NodeManager]:
    """The node manager on the real engine; removes every node this session made, then its network."""
    engine = NodeEngine.from_settings(settings)
    manager = NodeManager(engine, node_config)
    yield manager
    for node in manager.list():
        if node.name.startswith(f"t{SESSION}"):
            manager.remove(node.name)
    for volume in engine.volumes("benchfarm.node"):
        if volume.startswith(f"benchfarm-node-t{SESSION}"):
            engine.remove_volume(volume)
    manager.remove_network()
    engine.close()


@pytest.fixture(scope="session")
def node0(nodes: NodeManager, node_image: NodeImage, busybox_image: str) -> Iterator[Node]:
    """A node on CPU 0 with 1 GiB and the test busybox image loaded into its engine."""
    name = f"t{SESSION}-a"
    try:
        started = time.monotonic()
        node = nodes.create(NodeSpec.parse(name, "pool-a", "0", "1g"), node_image.ref, _progress)
        _progress(f"node {name} ready in {time.monotonic() - started:.2f} s")
        nodes.load_image(name, busybox_image)
        yield node
    finally:
        nodes.remove(name)


def _in_node(nodes: NodeManager, node: Node, *argv: str, ok: bool = True) -> str:
    result = nodes.exec(node.name, list(argv), timeout=120)
    if ok:
        assert result.exit_code == 0, f"{' '.join(argv)} exited {result.exit_code}: {result.output}"
    return result.output


def test_the_node_image_is_built_once_and_reused(node_image: NodeImage, node_config: NodeFarmConfig,
                                                 settings: Settings) -> None:
    images = DockerImages.from_settings(settings)
    try:
        again = NodeImageBuilder(images, node_config).ensure(_progress)
    finally:
        images.close()
    assert again.image_id == node_image.image_id
    assert again.built is False
    assert again.ref.startswith("benchfarm-node:")


def test_the_node_is_confined_as_asked_by_the_host_kernel(node0: Node) -> None:
    cg = HostCgroups()
    assert node0.running and node0.cgroup is not None
    assert node0.cgroup.path.endswith(node0.container_id)
    assert cg.cpus(node0.cgroup.path) == {0}
    assert cg.memory_limit(node0.cgroup.path) == GiB
    assert node0.cgroup.nested_parent == f"{node0.cgroup.path}/nested"


def test_nested_containers_sit_inside_the_node_cgroup(nodes: NodeManager, node0: Node, busybox_image: str) -> None:
    cg = HostCgroups()
    assert node0.cgroup is not None
    nested = _in_node(nodes, node0, "docker", "run", "-d", "--network", "none", busybox_image, "sleep", "120").strip()
    try:
        path = f"{node0.cgroup.nested_parent}/{nested}"
        assert cg.exists(path), f"no cgroup {path} on the host; nested cgroups: " \
                                f"{sorted(p.name for p in cg.directory('cpuset', node0.cgroup.path).iterdir())}"
        assert cg.is_within(path, node0.cgroup.path)
        assert cg.cpus(path) <= {0}
        limit = cg.effective_memory_limit(path)
        assert limit is not None and limit <= GiB
        # the host kernel has the nested process itself in that cgroup
        pids = cg.directory("cpuset", path).joinpath("cgroup.procs").read_text().split()
        assert pids, "the nested container's cgroup holds no process"
        assert all(cg.of_pid(int(p)) == path for p in pids)
        # and not beside the node, where an inner engine left at its defaults would put it
        assert not cg.directory("cpuset", f"/docker/{nested}").exists()
    finally:
        _in_node(nodes, node0, "docker", "rm", "-f", nested, ok=False)


def test_a_nested_container_cannot_leave_the_node_cpu_set_or_memory(nodes: NodeManager, node0: Node,
                                                                     busybox_image: str) -> None:
    cg = HostCgroups()
    assert node0.cgroup is not None
    if 1 not in host_cpus():
        pytest.skip("this machine has no CPU 1 to ask for")
    escape = nodes.exec(node0.name, ["docker", "run", "--rm", "--network", "none", "--cpuset-cpus", "1",
                                     busybox_image, "true"])
    assert escape.exit_code != 0, f"a nested container ran on CPU 1 outside node CPU set 0: {escape.output}"
    assert "cpuset.cpus" in escape.output
    # asking for more memory than the node has gets a limit of its own, but the node's still applies
    big = _in_node(nodes, node0, "docker", "run", "-d", "--network", "none", "--memory", "2g", busybox_image,
                   "sleep", "120").strip()
    try:
        path = f"{node0.cgroup.nested_parent}/{big}"
        assert cg.memory_limit(path) == 2 * GiB
        assert cg.effective_memory_limit(path) == GiB
    finally:
        _in_node(nodes, node0, "docker", "rm", "-f", big, ok=False)


def test_the_node_engine_sees_only_its_cpus(nodes: NodeManager, node0: Node) -> None:
    info = _in_node(nodes, node0, "docker", "info", "--format", "{{.NCPU}} {{.Driver}} {{.CgroupDriver}}")
    assert info.split() == ["1", "overlay2", "cgroupfs"]


def test_the_node_image_carries_what_later_services_need(nodes: NodeManager, node0: Node) -> None:
    out = _in_node(nodes, node0, "python", "-c",
                   "import benchfarm, celery, salt.version; print(benchfarm.__version__, salt.version.__version__)")
    assert out.split()[0] == "0.1.0"
    _in_node(nodes, node0, "salt-minion", "--version")
    _in_node(nodes, node0, "benchfarm", "--help")
    assert _in_node(nodes, node0, "benchfarm-node-service", "status", "dockerd").startswith("dockerd running")
    # sshd (the saltify path) starts under the node's supervisor with host keys made on the node
    _in_node(nodes, node0, "benchfarm-node-service", "start", "sshd")
    deadline = time.monotonic() + 20
    while nodes.exec(node0.name, ["sh", "-c", "ss -ltn | grep -q ':22 '"]).exit_code != 0:
        assert time.monotonic() < deadline, _in_node(nodes, node0, "cat", "/var/log/benchfarm-node/sshd.log")
        time.sleep(0.2)
    _in_node(nodes, node0, "benchfarm-node-service", "stop", "sshd")
    # salt-minion refuses to start before it is configured, with a clear line
    out = nodes.exec(node0.name, ["bash", "/etc/benchfarm-node/services.d/salt-minion.sh"])
    assert out.exit_code != 0 and "not configured yet" in out.output


def test_create_is_idempotent_and_refuses_clearly(nodes: NodeManager, node0: Node, node_image: NodeImage) -> None:
    again = nodes.create(node0.spec(), node_image.ref)
    assert again.container_id == node0.container_id
    with pytest.raises(NodeNameTakenError, match="exists with pool pool-a, CPUs 0, 1GiB"):
        nodes.create(NodeSpec.parse(node0.name, "pool-a", "0", "2g"), node_image.ref)
    top = max(host_cpus()) + 1
    with pytest.raises(NodeSpecError, match="outside this machine's CPUs"):
        nodes.create(NodeSpec.parse(f"t{SESSION}-x", "pool-a", str(top), "1g"), node_image.ref)
    with pytest.raises(NodeSpecError, match="too little for a node"):
        NodeSpec.parse(f"t{SESSION}-x", "pool-a", "0", "64m")
    listed = {n.name: n for n in nodes.list()}
    assert listed[node0.name].pool == "pool-a" and listed[node0.name].cpuset == "0"
    assert nodes.find(f"t{SESSION}-x") is None


def _listen(address: str) -> tuple[socket.socket, list[str]]:
    srv = socket.socket()
    srv.bind((address, 0))
    srv.listen()
    srv.settimeout(30)
    seen: list[str] = []

    def accept() -> None:
        try:
            conn, peer = srv.accept()
            seen.append(peer[0])
            conn.sendall(b"farm\n")
            conn.close()
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    return srv, seen


CONNECT = ("import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3); "
           "print(s.recv(16).decode().strip())")


def test_nodes_reach_the_host_at_the_gateway_but_not_each_other(nodes: NodeManager, node0: Node,
                                                                node_image: NodeImage) -> None:
    net = nodes.ensure_network()
    assert net.internal and net.options.get("com.docker.network.bridge.enable_icc") == "false"
    assert node0.address and node0.address != net.gateway
    # a farm service listening on the gateway address is reachable from the node
    srv, seen = _listen(net.gateway)
    try:
        port = srv.getsockname()[1]
        assert _in_node(nodes, node0, "python3", "-c", CONNECT, net.gateway, str(port)).strip() == "farm"
        assert seen == [node0.address]
    finally:
        srv.close()
    # one node cannot open a connection to another (icc off): only the host is a peer
    other = f"t{SESSION}-b"
    try:
        peer = nodes.create(NodeSpec.parse(other, "pool-b", "0", "512m"), node_image.ref, _progress)
        nodes.exec(other, ["sh", "-c", "nohup python3 -c \"import socket; s=socket.socket(); "
                                       "s.bind(('0.0.0.0', 7777)); s.listen(); s.accept()\" >/dev/null 2>&1 &"])
        time.sleep(0.5)
        blocked = nodes.exec(node0.name, ["python3", "-c", CONNECT, peer.address, "7777"])
        assert blocked.exit_code != 0, f"node {node0.name} reached node {other}: {blocked.output}"
    finally:
        nodes.remove(other)


def test_remove_takes_container_volume_and_cgroups(nodes: NodeManager, node_image: NodeImage) -> None:
    name = f"t{SESSION}-r"
    node = nodes.create(NodeSpec.parse(name, "pool-a", "0", "512m"), node_image.ref)
    assert node.cgroup is not None
    assert nodes.remove(name) is True
    assert nodes.find(name) is None
    assert not HostCgroups().exists(node.cgroup.path)
    assert f"benchfarm-node-{name}-docker" not in nodes.engine.volumes("benchfarm.node")
    assert nodes.remove(name) is False
