"""The node manager's decisions against a fake engine: checks before anything is created, idempotence,
clean-up of a node that does not come up, and the host-side cgroup check (no Docker needed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from benchfarm.errors import BenchfarmError, NotFoundError, SetupError
from benchfarm.nodes.cgroups import HostCgroups
from benchfarm.nodes.config import NodeFarmConfig
from benchfarm.nodes.engine import ContainerFacts, ExecResult, NetworkFacts, NodeRunRequest
from benchfarm.nodes.errors import EngineConflictError, NodeNameTakenError, NodeSpecError, NodeStartError
from benchfarm.nodes.link import ForwardedPort
from benchfarm.nodes.manager import NodeManager
from benchfarm.nodes.model import NodeSpec
from benchfarm.nodes.worker import NodeWorkers

IMAGE = "benchfarm-node:0.1.0"


class FakeEngine:
    """Keeps networks, volumes and containers in dicts; a started node answers probes like a real one."""

    def __init__(self, cgroup_root: Path, proc: Path) -> None:
        self.networks: dict[str, NetworkFacts] = {}
        self.vols: dict[str, dict[str, str]] = {}
        self.ctrs: dict[str, ContainerFacts] = {}
        self.images = {IMAGE}
        self.cgroup_root, self.proc = cgroup_root, proc
        self.probe = "ok"          # "ok", "dockerd-down", "failed", "wrong-cgroup"
        self.loaded: list[bytes] = []
        self.next_pid = 100
        self.runs: list[NodeRunRequest] = []
        self.starts: list[str] = []
        self.start_refused = False  # the engine refuses to start a stopped container again
        self.closed_ports: set[int] = set()          # ports the gateway does not answer on, seen from a node
        self.files: dict[str, str] = {}              # files written into nodes
        self.worker_starts: list[str] = []
        self.on_worker_start: Callable[[str], None] = lambda name: None

    # networks
    def network(self, name: str) -> NetworkFacts | None:
        return self.networks.get(name)

    def create_network(self, name: str, *, bridge: str, subnet: str | None, internal: bool, icc: bool,
                       labels: dict[str, str]) -> NetworkFacts:
        assert internal and not icc
        self.networks[name] = NetworkFacts(id="n1", name=name, subnet="172.30.0.0/24", gateway="172.30.0.1",
                                           internal=True, labels=labels)
        return self.networks[name]

    def remove_network(self, name: str) -> bool:
        return self.networks.pop(name, None) is not None

    # volumes
    def volume_labels(self, name: str) -> dict[str, str] | None:
        return self.vols.get(name)

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.vols[name] = labels

    def remove_volume(self, name: str) -> bool:
        return self.vols.pop(name, None) is not None

    def volumes(self, label: str) -> list[str]:
        return sorted(self.vols)

    # containers
    def run_node(self, req: NodeRunRequest) -> str:
        self.runs.append(req)
        if req.name in self.ctrs:
            raise EngineConflictError(f"name {req.name} in use")
        self.next_pid += 1
        cid = f"{req.hostname}id"
        pid = self.next_pid
        # what the host kernel does: a cgroup for the node with its cpuset and memory limit
        for ctrl, fname, value in (("cpuset", "cpuset.effective_cpus", req.cpuset),
                                   ("memory", "memory.limit_in_bytes", str(req.memory))):
            d = self.cgroup_root / ctrl / "docker" / cid
            d.mkdir(parents=True, exist_ok=True)
            (d / fname).write_text(value + "\n")
        (self.proc / str(pid)).mkdir(parents=True)
        (self.proc / str(pid) / "cgroup").write_text(f"4:memory:/docker/{cid}\n3:cpuset:/docker/{cid}\n0::/\n")
        self.ctrs[req.name] = ContainerFacts(id=cid, name=req.name, status="running", labels=dict(req.labels),
                                             image=req.image, pid=pid, addresses={req.network: "172.30.0.2"},
                                             cpuset=req.cpuset, memory=req.memory, exit_code=None, oom_killed=False,
                                             image_id=self.image_id(req.image) or "")
        return cid

    def start_container(self, name_or_id: str) -> None:
        c = self.container(name_or_id)
        assert c is not None and c.status != "running"
        self.starts.append(c.name)
        if self.start_refused:
            raise BenchfarmError("the Docker engine refused: failed to update store for object type "
                                 "*libnetwork.endpoint")
        self.next_pid += 1
        (self.proc / str(self.next_pid)).mkdir(parents=True)
        (self.proc / str(self.next_pid) / "cgroup").write_text(
            f"4:memory:/docker/{c.id}\n3:cpuset:/docker/{c.id}\n0::/\n")
        self.ctrs[c.name] = replace(c, status="running", pid=self.next_pid)

    def container(self, name_or_id: str) -> ContainerFacts | None:
        return self.ctrs.get(name_or_id) or next((c for c in self.ctrs.values() if c.id == name_or_id), None)

    def containers(self, label: str) -> list[ContainerFacts]:
        return [c for c in self.ctrs.values() if label in c.labels]

    def remove_container(self, name_or_id: str) -> bool:
        c = self.container(name_or_id)
        return c is not None and self.ctrs.pop(c.name, None) is not None

    def logs(self, name_or_id: str, tail: int = 40) -> str:
        return "benchfarm-node-init: started: dockerd"

    def exec(self, name_or_id: str, argv: list[str], *, stdin: Iterable[bytes] | None = None,
             timeout: float = 120.0, environment: dict[str, str] | None = None) -> ExecResult:
        c = self.container(name_or_id)
        assert c is not None
        if argv == ["docker", "load"]:
            self.loaded.extend(stdin or [])
            return ExecResult(0, "Loaded image: x:latest\n")
        if argv[:2] == ["bash", "-c"] and "/dev/tcp/" in argv[2]:  # the gateway probe: prints closed ports
            ports = [int(p) for p in argv[2].split("for p in ")[1].split(";")[0].split()]
            return ExecResult(0, "".join(f"{p}\n" for p in ports if p in self.closed_ports))
        if argv[:2] == ["bash", "-c"] and "cat > /etc/benchfarm/config.yaml.new" in argv[2]:
            self.files["/etc/benchfarm/config.yaml"] = b"".join(stdin or []).decode()
            return ExecResult(0, "")
        if argv == ["benchfarm-node-service", "start", "worker"]:
            self.worker_starts.append(c.name)
            self.on_worker_start(c.labels["benchfarm.node"])
            return ExecResult(0, "worker started\n")
        if argv[0] == "tail":
            return ExecResult(0, "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:16379\n")
        if argv[0] == "sh":  # the readiness probe
            node_cg = f"/docker/{c.id}" if self.probe != "wrong-cgroup" else "/docker/elsewhere"
            return {"ok": ExecResult(0, f"v1\n{node_cg}\n{node_cg}/nested\n"),
                    "wrong-cgroup": ExecResult(0, f"v1\n{node_cg}\n{node_cg}/nested\n"),
                    "dockerd-down": ExecResult(12, ""),
                    "failed": ExecResult(10, "cannot find the node's own cgroup")}[self.probe]
        return ExecResult(0, "")

    def save_image(self, ref: str) -> Iterator[bytes]:
        yield b"tar-bytes"

    def image_id(self, ref: str) -> str | None:
        return "sha256:abc" if ref in self.images else None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


@pytest.fixture
def engine(tmp_path: Path) -> FakeEngine:
    root = tmp_path / "cgroup"
    (root / "cpuset").mkdir(parents=True)
    (root / "memory").mkdir(parents=True)
    return FakeEngine(root, tmp_path / "proc")


@pytest.fixture
def manager(engine: FakeEngine) -> NodeManager:
    clock = Clock()
    return NodeManager(engine, NodeFarmConfig(ready_timeout_s=5), cgroups=HostCgroups(engine.cgroup_root, engine.proc),
                       machine_cpus=lambda: frozenset({0, 1}), clock=clock, sleep=clock.sleep)


def spec(name: str = "n1", cpus: str = "0", memory: str = "1g", pool: str = "a") -> NodeSpec:
    return NodeSpec.parse(name, pool, cpus, memory)


def test_create_makes_network_volume_and_a_confined_node(manager: NodeManager, engine: FakeEngine) -> None:
    node = manager.create(spec(), IMAGE)
    assert node.running and node.pool == "a" and node.cpuset == "0" and node.memory == 1 << 30
    assert node.address == "172.30.0.2"
    assert node.cgroup is not None and node.cgroup.path == "/docker/n1id"
    assert node.cgroup.nested_parent == "/docker/n1id/nested"
    assert set(engine.vols) == {"benchfarm-node-n1-docker"}
    assert engine.networks["benchfarm-nodes"].labels == {"benchfarm.network": "nodes"}
    assert [n.name for n in manager.list()] == ["n1"]


def test_create_is_idempotent_for_the_same_spec(manager: NodeManager, engine: FakeEngine) -> None:
    first = manager.create(spec(), IMAGE)
    again = manager.create(spec(), IMAGE)
    assert again.container_id == first.container_id
    assert len(engine.ctrs) == 1


def test_a_name_taken_with_another_spec_is_refused(manager: NodeManager, engine: FakeEngine) -> None:
    manager.create(spec(), IMAGE)
    with pytest.raises(NodeNameTakenError) as err:
        manager.create(spec(cpus="1"), IMAGE)
    assert "exists with pool a, CPUs 0, 1GiB" in err.value.message
    assert "nodes remove n1" in (err.value.hint or "")


def test_a_foreign_container_or_volume_is_never_claimed(manager: NodeManager, engine: FakeEngine) -> None:
    engine.ctrs["benchfarm-node-x"] = ContainerFacts(id="z", name="benchfarm-node-x", status="running", labels={},
                                                     image="i", pid=0, addresses={}, cpuset="", memory=0,
                                                     exit_code=None, oom_killed=False)
    with pytest.raises(NodeNameTakenError):
        manager.create(spec("x"), IMAGE)
    with pytest.raises(NodeNameTakenError):
        manager.remove("x")
    engine.vols["benchfarm-node-y-docker"] = {"owner": "someone"}
    with pytest.raises(NodeNameTakenError):
        manager.create(spec("y"), IMAGE)
    assert "benchfarm-node-y" not in engine.ctrs


def test_checks_come_before_anything_is_created(manager: NodeManager, engine: FakeEngine) -> None:
    with pytest.raises(NodeSpecError, match="outside this machine's CPUs"):
        manager.create(spec(cpus="2"), IMAGE)
    with pytest.raises(NotFoundError, match="not in the engine"):
        manager.create(spec(), "benchfarm-node:nope")
    assert not engine.ctrs and not engine.vols and not engine.networks


def test_a_foreign_network_of_the_same_name_is_refused(manager: NodeManager, engine: FakeEngine) -> None:
    engine.networks["benchfarm-nodes"] = NetworkFacts(id="x", name="benchfarm-nodes", subnet="", gateway="",
                                                      internal=False, labels={})
    with pytest.raises(SetupError, match="not created by benchfarm"):
        manager.create(spec(), IMAGE)


@pytest.mark.parametrize(("probe", "says", "with_log"), [
    ("dockerd-down", "not ready after 5 s: its dockerd does not answer yet", True),
    ("failed", "its init failed: cannot find the node's own cgroup", True),
    ("wrong-cgroup", "not confined as asked: the node says its cgroup is /docker/elsewhere", False),
])
def test_a_node_that_does_not_come_up_is_removed_with_its_volume(manager: NodeManager, engine: FakeEngine,
                                                                 probe: str, says: str, with_log: bool) -> None:
    engine.probe = probe
    with pytest.raises(NodeStartError) as err:
        manager.create(spec(), IMAGE)
    assert says in err.value.message
    assert ("benchfarm-node-init" in err.value.message) is with_log  # the node's log comes with start errors
    assert not engine.ctrs and not engine.vols


def test_a_dead_node_is_started_again_as_it_was(manager: NodeManager, engine: FakeEngine) -> None:
    """Like a machine powered on again: the same container, so its worker's spool (in the container's own
    filesystem) is still there to be delivered."""
    first = manager.create(spec(), IMAGE)
    engine.ctrs["benchfarm-node-n1"] = replace(engine.ctrs["benchfarm-node-n1"], status="exited", pid=0)
    assert manager.get("n1").status == "exited"
    node = manager.create(spec(), IMAGE)
    assert node.running and node.container_id == first.container_id
    assert engine.starts == ["benchfarm-node-n1"] and len(engine.runs) == 1
    assert set(engine.vols) == {"benchfarm-node-n1-docker"}


def test_a_dead_node_the_engine_will_not_start_again_is_started_afresh(manager: NodeManager,
                                                                      engine: FakeEngine) -> None:
    manager.create(spec(), IMAGE)
    engine.ctrs["benchfarm-node-n1"] = replace(engine.ctrs["benchfarm-node-n1"], status="exited", pid=0)
    engine.start_refused = True
    said: list[str] = []
    node = manager.create(spec(), IMAGE, said.append)
    assert node.running and engine.starts == ["benchfarm-node-n1"] and len(engine.runs) == 2
    assert any("did not start again" in line and "libnetwork" in line for line in said), said


def test_a_dead_node_of_another_image_is_started_afresh_on_its_volume(manager: NodeManager,
                                                                     engine: FakeEngine) -> None:
    manager.create(spec(), IMAGE)
    engine.ctrs["benchfarm-node-n1"] = replace(engine.ctrs["benchfarm-node-n1"], status="exited", pid=0,
                                               image_id="sha256:older")
    node = manager.create(spec(), IMAGE)
    assert node.running
    assert engine.starts == [] and len(engine.runs) == 2
    assert set(engine.vols) == {"benchfarm-node-n1-docker"}


def test_remove_is_idempotent(manager: NodeManager, engine: FakeEngine) -> None:
    manager.create(spec(), IMAGE)
    assert manager.remove("n1") is True
    assert not engine.ctrs and not engine.vols
    assert manager.remove("n1") is False
    assert manager.find("n1") is None


def test_images_are_streamed_into_a_node(manager: NodeManager, engine: FakeEngine) -> None:
    manager.create(spec(), IMAGE)
    assert "Loaded image" in manager.load_image("n1", IMAGE)
    assert engine.loaded == [b"tar-bytes"]
    with pytest.raises(NotFoundError):
        manager.load_image("n1", "absent:latest")


# --- the link to the farm: relayed ports, the node's worker, retiring on removal -----------------------------

class Roster:
    """The host registry as the node manager and workers see it (``HostRegistry`` fits the same calls)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.seen: dict[str, float] = {}
        self.retired: list[str] = []
        self.registered: set[str] = set()

    def workers_seen(self) -> dict[str, float]:
        return dict(self.seen)

    def retire(self, host_id: str) -> bool:
        self.retired.append(host_id)
        self.seen.pop(host_id, None)
        if host_id in self.registered:
            self.registered.discard(host_id)
            return True
        return False


FORWARD = (ForwardedPort("redis", 16379), ForwardedPort("registry", 15000))


@pytest.fixture
def linked(engine: FakeEngine) -> tuple[NodeManager, NodeWorkers, Roster]:
    clock = Clock()
    roster = Roster(clock)
    config = NodeFarmConfig(ready_timeout_s=5, worker_timeout_s=10, forward=FORWARD,
                            worker_settings={"redis_port": 16379, "registry_port": 15000, "index_prefix": "bf"})
    manager = NodeManager(engine, config, cgroups=HostCgroups(engine.cgroup_root, engine.proc), hosts=roster,
                          machine_cpus=lambda: frozenset({0, 1}), clock=clock, sleep=clock.sleep)
    workers = NodeWorkers(manager, roster, clock=clock, sleep=clock.sleep, wall=lambda: 1000.0 + clock.now)
    return manager, workers, roster


def test_a_node_gets_the_relayed_ports_and_starts_its_relay_first(linked, engine: FakeEngine) -> None:
    manager, _, _ = linked
    manager.create(spec(), IMAGE)
    env = engine.runs[-1].environment
    assert env["BENCHFARM_NODE_SERVICES"] == "forward dockerd"
    assert env["BENCHFARM_NODE_FORWARD"] == "16379:127.0.0.1:16379 15000:127.0.0.1:15000"
    assert env["BENCHFARM_NODE_HOST_ADDRESS"] == "172.30.0.1"


def test_without_relayed_ports_a_node_starts_only_its_engine(manager: NodeManager, engine: FakeEngine) -> None:
    manager.create(spec(), IMAGE)
    assert engine.runs[-1].environment["BENCHFARM_NODE_SERVICES"] == "dockerd"
    assert engine.runs[-1].environment["BENCHFARM_NODE_FORWARD"] == ""


def test_the_worker_gets_the_hosts_settings_and_is_awaited(linked, engine: FakeEngine) -> None:
    manager, workers, roster = linked
    manager.create(spec(pool="nodes-a"), IMAGE)
    engine.on_worker_start = lambda name: roster.seen.__setitem__(name, 1000.0 + roster.clock.now + 2.0)
    seconds = workers.start("n1")
    assert seconds == 0.0  # the fake heartbeat is there at the first look
    assert engine.worker_starts == ["benchfarm-node-n1"]
    written = yaml.safe_load(engine.files["/etc/benchfarm/config.yaml"])
    assert written == {"redis_port": 16379, "registry_port": 15000, "index_prefix": "bf", "minion_id": "n1",
                       "pool": "nodes-a", "state_dir": "/var/lib/benchfarm", "cache_dir": "/var/cache/benchfarm",
                       "docker_url": "unix:///var/run/docker.sock", "schedules_enabled": False}


def test_an_old_heartbeat_is_not_taken_for_the_new_worker(linked, engine: FakeEngine) -> None:
    manager, workers, roster = linked
    manager.create(spec(), IMAGE)
    roster.seen["n1"] = 900.0  # a worker of an earlier node of that name
    with pytest.raises(NodeStartError) as err:
        workers.start("n1")
    assert "no heartbeat within 10 s" in err.value.message
    assert "Error 111 connecting to 127.0.0.1:16379" in err.value.message  # the worker's log comes with it


def test_a_gateway_that_does_not_answer_is_named_before_the_worker_starts(linked, engine: FakeEngine) -> None:
    manager, workers, _ = linked
    manager.create(spec(), IMAGE)
    engine.closed_ports = {16379}
    with pytest.raises(NodeStartError) as err:
        workers.start("n1")
    assert "redis (172.30.0.1:16379)" in err.value.message and "registry" not in err.value.message
    assert "node-gateway" in (err.value.hint or "")
    assert engine.worker_starts == [] and "/etc/benchfarm/config.yaml" not in engine.files


def test_removing_a_node_retires_its_host_first(linked, engine: FakeEngine) -> None:
    manager, _, roster = linked
    manager.create(spec(), IMAGE)
    roster.registered.add("n1")
    roster.seen["n1"] = 1000.0
    assert manager.remove("n1") is True
    assert roster.retired[0] == "n1" and "n1" not in roster.seen
    assert not engine.ctrs and not engine.vols
    assert manager.remove("n1") is False  # nothing left: no container, no volume, no registered host


def test_a_foreign_container_is_refused_before_any_host_is_retired(linked, engine: FakeEngine) -> None:
    manager, _, roster = linked
    engine.ctrs["benchfarm-node-x"] = ContainerFacts(id="z", name="benchfarm-node-x", status="running", labels={},
                                                     image="i", pid=0, addresses={}, cpuset="", memory=0,
                                                     exit_code=None, oom_killed=False)
    with pytest.raises(NodeNameTakenError):
        manager.remove("x")
    assert roster.retired == []


def test_adding_again_takes_the_running_workers_recent_heartbeat(linked, engine: FakeEngine) -> None:
    manager, workers, roster = linked
    manager.create(spec(), IMAGE)
    roster.seen["n1"] = 1000.0 - 12.0  # its last housekeeping heartbeat, 12 s ago
    original = engine.exec

    def already(name_or_id: str, argv: list[str], **kw: object) -> ExecResult:
        if argv == ["benchfarm-node-service", "start", "worker"]:
            return ExecResult(0, "worker already running\n")
        return original(name_or_id, argv, **kw)  # type: ignore[arg-type]

    engine.exec = already  # type: ignore[method-assign]
    assert workers.start("n1") == 0.0
